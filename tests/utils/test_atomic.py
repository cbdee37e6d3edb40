from __future__ import annotations

import os
import stat

import pytest

from medtranslate.errors import OutputError
from medtranslate.utils import atomic_path


@pytest.mark.parametrize("is_dir", [False, True])
def test_success_renames_with_the_usual_permissions(tmp_path, is_dir):
    final = tmp_path / ("out" if is_dir else "out.nii.gz")
    with atomic_path(final, is_dir=is_dir) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith("" if is_dir else ".nii.gz")
        if is_dir:
            (tmp / "a.dcm").write_bytes(b"x")
        else:
            tmp.write_bytes(b"x")
    umask = os.umask(0)
    os.umask(umask)
    expected = (0o777 if is_dir else 0o666) & ~umask
    assert stat.S_IMODE(final.stat().st_mode) == expected  # not mkstemp's 0600: shared folders stay readable
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]


def test_failure_leaves_nothing_and_keeps_the_old_file(tmp_path):
    final = tmp_path / "out.nii.gz"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert final.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nii.gz"]


def test_destination_under_a_file_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file"), atomic_path(blocker / "out.nii.gz"):
        pass
