// medtranslate rating page. Talks to the server under the page's own URL (/r/<token>/): api/state, api/sets/<n>.
// It only ever sees opaque image ids; which model made an image stays on the server.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let state = null;
  let current = 0;
  let mode = "rank";
  let order = [];
  let scores = {};
  let touched = new Set();
  let labels = {};
  let dragId = null;
  let zoomFrom = null;
  let zoomScale = 1;

  function setImage(img, src) {
    if (src) { img.src = src; } else { img.removeAttribute("src"); }
  }

  function message(text) { $("message").textContent = text || ""; }

  function failure(text) {
    const f = $("failure");
    f.textContent = text || "";
    f.hidden = !text;
  }

  function savedCount() { return state.sets.filter((s) => s.saved).length; }

  function updateProgress() {
    const n = state.sets.length;
    $("bar").max = n;
    $("bar").value = savedCount();
    if (current < n) {
      const s = state.sets[current];
      const what = s.kind === "reference" ? "reference set: the real image is shown"
        : "blind set: no real reference";
      $("progress").textContent = `Set ${current + 1} of ${n} \u00b7 ${what} \u00b7 ${savedCount()} saved`;
    } else {
      $("progress").textContent = `${savedCount()} of ${n} sets saved`;
    }
  }

  function positionText(p, n) {
    return p === 0 ? "1 \u00b7 best" : p === n - 1 ? `${n} \u00b7 worst` : String(p + 1);
  }

  function renderCards(focusId) {
    const list = $("candidates");
    list.className = mode === "rank" ? "rank-mode" : "slider-mode";
    list.replaceChildren();
    const n = order.length;
    order.forEach((id, p) => {
      const c = state.sets[current].candidates.find((x) => x.id === id);
      const li = document.createElement("li");
      li.className = "card";
      li.tabIndex = 0;
      li.dataset.id = id;
      li.draggable = mode === "rank";
      li.setAttribute("aria-label", mode === "rank"
        ? `Image ${labels[id]}, position ${p + 1} of ${n}. Arrow keys move it, Z zooms.`
        : `Image ${labels[id]}. Z zooms; its score slider follows.`);
      const head = document.createElement("div");
      head.className = "card-head";
      const name = document.createElement("span");
      name.textContent = `Image ${labels[id]}`;
      const pos = document.createElement("span");
      pos.className = "pos";
      pos.textContent = positionText(p, n);
      head.append(name, pos);
      const view = document.createElement("img");
      view.className = "view";
      view.alt = `image ${labels[id]}`;
      view.draggable = false;
      setImage(view, c.src);
      li.append(head, view);
      if (c.strip) {
        const strip = document.createElement("img");
        strip.className = "strip";
        strip.alt = `slices of image ${labels[id]}`;
        strip.draggable = false;
        setImage(strip, c.strip);
        li.append(strip);
      }
      const box = document.createElement("div");
      box.className = "score" + (touched.has(id) ? "" : " untouched");
      const slider = document.createElement("input");
      slider.type = "range";
      slider.min = "1";
      slider.max = "100";
      slider.step = "1";
      slider.value = String(scores[id]);
      slider.tabIndex = mode === "slider" ? 0 : -1;
      slider.setAttribute("aria-label", `score of image ${labels[id]}, 1 to 100`);
      const out = document.createElement("output");
      out.textContent = touched.has(id) ? String(scores[id]) : "\u2013";
      slider.addEventListener("input", () => {
        scores[id] = Number(slider.value);
        touched.add(id);
        out.textContent = slider.value;
        box.classList.remove("untouched");
        if ($("message").textContent.startsWith("Set every slider")) { message(""); }
      });
      box.append(slider, out);
      li.append(box);
      list.append(li);
    });
    if (focusId) {
      const el = list.querySelector(`li[data-id="${focusId}"]`);
      if (el) { el.focus(); }
    }
  }

  function show(i) {
    current = i;
    failure("");
    message("");
    const n = state.sets.length;
    if (i >= n) { showDone(); return; }
    $("done").hidden = true;
    $("rating").hidden = false;
    const s = state.sets[i];
    setImage($("input-view"), s.input.src);
    setImage($("input-strip"), s.input.strip);
    $("reference-fig").hidden = !s.reference;
    setImage($("reference-view"), s.reference ? s.reference.src : null);
    setImage($("reference-strip"), s.reference ? s.reference.strip : null);
    labels = {};
    s.candidates.forEach((c, k) => { labels[c.id] = LETTERS[k] || String(k + 1); });
    scores = {};
    touched = new Set();
    s.candidates.forEach((c) => { scores[c.id] = 50; });
    order = s.candidates.map((c) => c.id);
    if (s.saved) {
      mode = s.saved.method;
      if (s.saved.order) { order = s.saved.order.slice(); }
      for (const [id, v] of Object.entries(s.saved.scores)) {
        scores[id] = Math.round(v);
        if (mode === "slider") { touched.add(id); }
      }
    }
    $(mode === "rank" ? "mode-rank" : "mode-slider").checked = true;
    $("prev").disabled = i === 0;
    $("submit").textContent = i === n - 1 ? "Save and finish" : "Save and continue";
    updateProgress();
    renderCards(order[0]);
    window.scrollTo(0, 0);
  }

  function showDone() {
    $("rating").hidden = true;
    $("done").hidden = false;
    $("done-text").textContent = `All ${state.sets.length} sets are saved. Thank you; you can close this page.`;
    updateProgress();
    $("review").focus();
  }

  function move(id, to) {
    const from = order.indexOf(id);
    to = Math.max(0, Math.min(order.length - 1, to));
    if (from < 0 || from === to) { return; }
    order.splice(from, 1);
    order.splice(to, 0, id);
    renderCards(id);
    message(`Image ${labels[id]} is now at position ${to + 1} of ${order.length}.`);
  }

  async function submit() {
    const s = state.sets[current];
    let body;
    if (mode === "rank") {
      body = { method: "rank", order: order.slice() };
    } else {
      const left = order.filter((id) => !touched.has(id)).map((id) => labels[id]);
      if (left.length) {
        message(`Set every slider first (not yet set: image ${left.join(", ")}).`);
        return;
      }
      body = { method: "slider", scores: Object.fromEntries(order.map((id) => [id, scores[id]])) };
    }
    $("submit").disabled = true;
    try {
      const r = await fetch(`api/sets/${current}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
        cache: "no-store",
      });
      if (!r.ok) {
        let why = `the server answered ${r.status}`;
        try { why = (await r.json()).error || why; } catch (e) { /* not JSON */ }
        throw new Error(why);
      }
      const sc = {};
      if (body.method === "rank") {
        const n = body.order.length;
        body.order.forEach((id, p) => { sc[id] = 1 + 99 * (n - 1 - p) / (n - 1); });
      } else { Object.assign(sc, body.scores); }
      s.saved = { method: body.method, scores: sc, order: body.method === "rank" ? body.order : null };
      show(current + 1);
    } catch (e) {
      failure(`Not saved: ${e.message}. Please try again.`);
    } finally {
      $("submit").disabled = false;
    }
  }

  function openZoom(view, strip, title, from) {
    zoomFrom = from;
    zoomScale = 1;
    setImage($("zoom-view"), view);
    setImage($("zoom-strip"), strip);
    $("zoom-title").textContent = title;
    $("zoom").hidden = false;
    applyZoom();
    $("zoom-body").focus();
  }

  function applyZoom() {
    const base = Math.min(window.innerWidth * 0.9, window.innerHeight * 0.75);
    $("zoom-view").style.width = `${Math.round(base * zoomScale)}px`;
    $("zoom-strip").style.width = `${Math.round(base * zoomScale)}px`;
  }

  function closeZoom() {
    $("zoom").hidden = true;
    if (zoomFrom) { zoomFrom.focus(); }
  }

  function zoomCard(li) {
    const c = state.sets[current].candidates.find((x) => x.id === li.dataset.id);
    openZoom(c.src, c.strip, `Image ${labels[c.id]}`, li);
  }

  function zoomContext(fig) {
    const s = state.sets[current];
    const img = fig.id === "input-fig" ? s.input : s.reference;
    openZoom(img.src, img.strip, fig.dataset.zoomLabel, fig);
  }

  function onCardKey(ev) {
    const li = ev.target.closest("li.card");
    if (!li || ev.target !== li || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    const id = li.dataset.id;
    const p = order.indexOf(id);
    if (ev.key === "z" || ev.key === "Z" || ev.key === "Enter") {
      ev.preventDefault();
      zoomCard(li);
      return;
    }
    if (mode !== "rank") { return; }
    const to = { ArrowLeft: p - 1, ArrowUp: p - 1, ArrowRight: p + 1, ArrowDown: p + 1, Home: 0,
      End: order.length - 1 }[ev.key];
    if (to !== undefined) {
      ev.preventDefault();
      move(id, to);
    }
  }

  function wire() {
    $("candidates").addEventListener("keydown", onCardKey);
    $("candidates").addEventListener("click", (ev) => {
      const img = ev.target.closest("img.view");
      if (img) { zoomCard(img.closest("li.card")); }
    });
    $("candidates").addEventListener("dragstart", (ev) => {
      const li = ev.target.closest("li.card");
      if (!li || mode !== "rank") { ev.preventDefault(); return; }
      dragId = li.dataset.id;
      li.classList.add("dragging");
      if (ev.dataTransfer) { ev.dataTransfer.effectAllowed = "move"; ev.dataTransfer.setData("text/plain", ""); }
    });
    $("candidates").addEventListener("dragover", (ev) => {
      const li = ev.target.closest("li.card");
      if (!li || dragId === null) { return; }
      ev.preventDefault();
      document.querySelectorAll(".drop-target").forEach((x) => x.classList.remove("drop-target"));
      if (li.dataset.id !== dragId) { li.classList.add("drop-target"); }
    });
    $("candidates").addEventListener("drop", (ev) => {
      const li = ev.target.closest("li.card");
      if (!li || dragId === null) { return; }
      ev.preventDefault();
      const id = dragId;
      dragId = null;
      move(id, order.indexOf(li.dataset.id));
    });
    $("candidates").addEventListener("dragend", () => {
      dragId = null;
      document.querySelectorAll(".dragging, .drop-target").forEach((x) => x.classList.remove("dragging", "drop-target"));
    });
    for (const fig of [$("input-fig"), $("reference-fig")]) {
      fig.addEventListener("click", () => zoomContext(fig));
      fig.addEventListener("keydown", (ev) => {
        if (ev.key === "z" || ev.key === "Z" || ev.key === "Enter") { ev.preventDefault(); zoomContext(fig); }
      });
    }
    for (const radio of document.querySelectorAll("input[name=mode]")) {
      radio.addEventListener("change", () => {
        mode = radio.value;
        renderCards(null);
        message(mode === "rank" ? "Rank the images: best on the left." : "Give every image a score from 1 to 100.");
      });
    }
    $("submit").addEventListener("click", submit);
    $("prev").addEventListener("click", () => { if (current > 0) { show(current - 1); } });
    $("review").addEventListener("click", () => show(0));
    $("zoom-close").addEventListener("click", closeZoom);
    document.addEventListener("keydown", (ev) => {
      if ($("zoom").hidden) { return; }
      if (ev.key === "Escape") { ev.preventDefault(); closeZoom(); }
      else if (ev.key === "+" || ev.key === "=") { zoomScale = Math.min(8, zoomScale * 1.25); applyZoom(); }
      else if (ev.key === "-" || ev.key === "_") { zoomScale = Math.max(0.25, zoomScale / 1.25); applyZoom(); }
    });
    window.addEventListener("resize", () => { if (!$("zoom").hidden) { applyZoom(); } });
  }

  async function start() {
    wire();
    try {
      const r = await fetch("api/state", { cache: "no-store" });
      if (!r.ok) { throw new Error(`the server answered ${r.status}`); }
      state = await r.json();
    } catch (e) {
      failure(`Could not load the study: ${e.message}.`);
      return;
    }
    document.title = state.title;
    $("title").textContent = state.title;
    $("instructions").textContent = state.instructions
      || "Rank the translated images (or score them from 1 to 100) by how real and how good they look.";
    $("criteria").textContent = state.criteria.length ? `Criteria: ${state.criteria.join(", ")}.` : "";
    show(state.next);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
