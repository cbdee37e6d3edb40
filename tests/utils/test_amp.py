"""The AMP option: ``auto`` picks bf16 only where the hardware computes it natively, and says so."""

from __future__ import annotations

import logging

import pytest
import torch

from medtranslate.errors import ConfigError
from medtranslate.utils import amp as amp_mod
from medtranslate.utils.amp import native_bf16, resolve_amp


@pytest.fixture
def fresh_cache():
    amp_mod._native_bf16.cache_clear()
    amp_mod._log_auto.cache_clear()
    yield
    amp_mod._native_bf16.cache_clear()
    amp_mod._log_auto.cache_clear()


@pytest.mark.parametrize(
    "flags, native", [({"avx512f", "avx512_bf16"}, True), ({"amx_bf16", "amx_tile"}, True), ({"avx2", "fma"}, False)]
)
def test_auto_follows_the_cpu_flags(monkeypatch, caplog, fresh_cache, flags, native):
    monkeypatch.setattr(amp_mod, "_cpu_flags", lambda: set(flags))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    with caplog.at_level(logging.INFO, logger="medtranslate.utils.amp"):
        dtype = resolve_amp("auto", "cpu")
    assert native_bf16("cpu") is native
    assert dtype == (torch.bfloat16 if native else None)
    assert ("bf16" if native else "fp32") in caplog.text and "amp auto on cpu" in caplog.text


def test_auto_on_a_device_without_native_bf16(fresh_cache):
    assert resolve_amp("auto", "meta") is None


def test_cpuinfo_parsing(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512_bf16 sse\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert amp_mod._cpu_flags(str(info)) == {"fpu", "avx512_bf16", "sse"}
    assert amp_mod._cpu_flags(str(tmp_path / "missing")) == set()


@pytest.mark.parametrize("value", ["fp32", "none", "FP32", None, False, torch.float32])
def test_full_precision_is_one_flag_away(value):
    assert resolve_amp(value, "cpu") is None


def test_explicit_and_bad_values():
    assert resolve_amp("bf16") == torch.bfloat16 and resolve_amp("fp16") == torch.float16
    with pytest.raises(ConfigError, match="auto, bf16, fp16 or fp32"):
        resolve_amp("int8")
