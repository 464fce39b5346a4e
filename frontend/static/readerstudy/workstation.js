// The reading workstation: the viewer laid out by the session's hanging protocol and the
// questionnaire beside it. Autosaves with the reading's version (a stale tab gets 409 and is
// told; nothing is overwritten), submits, moves to the next case, and sends heartbeats so
// that the server measures reading time. Plain ES module, same origin, no build step.

// Strings go through Django's JavaScript catalogue (/jsi18n/, loaded by the page before this
// module): gettext() and interpolate() are its globals.
const fmt = (text, values) => interpolate(text, values, true);

const config = JSON.parse(document.getElementById("ws-config").textContent);
const csrfToken = document.querySelector("input[name=csrfmiddlewaretoken]").value;

const el = {
  viewer: document.getElementById("ws-viewer"),
  form: document.getElementById("ws-questions"),
  banner: document.getElementById("ws-banner"),
  saved: document.getElementById("ws-saved"),
  submit: document.getElementById("ws-submit"),
  progress: document.getElementById("ws-progress"),
  previous: document.getElementById("ws-previous"),
  next: document.getElementById("ws-next"),
  instructions: document.getElementById("ws-instructions"),
  amend: document.getElementById("ws-amend"),
  amendReason: document.getElementById("ws-amend-reason"),
  amendStart: document.getElementById("ws-amend-start"),
  amendSave: document.getElementById("ws-amend-save"),
};

const SAVE_DELAY_MS = 600;
const IDLE_AFTER_MS = 60_000;

const state = {
  payload: null,
  reading: null,
  pending: {},
  saving: null,
  saveTimer: null,
  locked: true,
  amending: false,
  lastInteraction: Date.now(),
  roiTarget: null,
  viewer: null,
};

async function api(method, url, body, options = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    ...options,
  });
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, data };
}

function showBanner(text, kind = "info", action = null) {
  el.banner.hidden = false;
  el.banner.className = `ws-banner ${kind}`;
  el.banner.textContent = text;
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    el.banner.append(" ", button);
  }
}

function clearBanner() {
  el.banner.hidden = true;
  el.banner.textContent = "";
}

// --- Questionnaire ---------------------------------------------------------------------------

function fieldset(question) {
  const set = document.createElement("fieldset");
  set.className = "question";
  set.dataset.key = question.key;
  set.dataset.type = question.type;
  const legend = document.createElement("legend");
  legend.textContent = question.label + (question.required && !question.computed ? " *" : "");
  set.append(legend);
  if (question.help_text) {
    const help = document.createElement("p");
    help.className = "meta";
    help.textContent = question.help_text;
    set.append(help);
  }
  return set;
}

function radios(set, question, choices) {
  const group = document.createElement("div");
  group.className = "choices";
  for (const [value, label] of choices) {
    const wrap = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = `q-${question.key}`;
    input.value = JSON.stringify(value);
    wrap.append(input, ` ${label}`);
    group.append(wrap);
  }
  set.append(group);
}

function levelSelect(name, levels, allowNone, emptyLabel) {
  const select = document.createElement("select");
  select.name = name;
  const options = [["", emptyLabel], ...(allowNone ? [["none", gettext("none")]] : []), ...levels.map((l) => [l, l])];
  for (const [value, label] of options) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.append(option);
  }
  return select;
}

const ALL_LEVELS = [
  ...Array.from({ length: 7 }, (_, i) => `C${i + 1}`),
  ...Array.from({ length: 12 }, (_, i) => `T${i + 1}`),
  ...Array.from({ length: 5 }, (_, i) => `L${i + 1}`),
  "S1",
];

function renderQuestion(question) {
  const set = fieldset(question);
  const options = question.options || {};
  switch (question.type) {
    case "yes_no":
      radios(set, question, [[true, gettext("Yes")], [false, gettext("No")]]);
      break;
    case "single_choice":
      radios(set, question, options.choices.map((c) => [c.value, c.label]));
      break;
    case "ordinal":
      radios(set, question, options.values.map((v) => [v.value, `${v.value} — ${v.label}`]));
      break;
    case "likert": {
      const labels = options.labels || {};
      radios(set, question, [1, 2, 3, 4, 5].map((v) => [v, labels[String(v)] ? `${v} — ${labels[String(v)]}` : String(v)]));
      break;
    }
    case "comparative": {
      const labels = options.labels || {};
      radios(set, question, [["A", labels.A || "A"], ["equal", labels.equal || gettext("Equal")], ["B", labels.B || "B"]]);
      break;
    }
    case "number": {
      const input = document.createElement("input");
      input.type = "number";
      input.name = `q-${question.key}`;
      input.step = options.integer ? "1" : "any";
      if (options.min !== undefined) input.min = options.min;
      if (options.max !== undefined) input.max = options.max;
      set.append(input);
      if (options.unit) set.append(` ${options.unit}`);
      break;
    }
    case "vertebral_level": {
      const levels = options.levels || ALL_LEVELS;
      set.append(levelSelect(`q-${question.key}-from`, levels, options.allow_none, options.allow_range ? gettext("level (from)") : gettext("level")));
      if (options.allow_range) {
        set.append(` ${gettext("to")} `, levelSelect(`q-${question.key}-to`, levels, false, gettext("(single level)")));
      }
      break;
    }
    case "text": {
      const area = document.createElement("textarea");
      area.name = `q-${question.key}`;
      area.rows = 3;
      area.maxLength = options.max_length || 2000;
      set.append(area);
      break;
    }
    case "roi": {
      const output = document.createElement("output");
      output.name = `q-${question.key}`;
      output.textContent = gettext("no measurement yet: draw an ROI in the viewer");
      const arm = document.createElement("button");
      arm.type = "button";
      arm.textContent = gettext("Use the next ROI");
      arm.addEventListener("click", () => {
        state.roiTarget = question.key;
        output.textContent = gettext("waiting for an ROI in the viewer…");
      });
      const clear = document.createElement("button");
      clear.type = "button";
      clear.className = "secondary";
      clear.textContent = gettext("Clear");
      clear.addEventListener("click", () => setAnswer(question.key, null));
      set.append(output, " ", arm, " ", clear);
      break;
    }
    case "computed": {
      const output = document.createElement("output");
      output.name = `q-${question.key}`;
      output.textContent = "—";
      set.append(output, document.createTextNode(` ${gettext("(computed)")}`));
      break;
    }
    default:
      set.append(fmt(gettext("unsupported question type %(type)s"), { type: question.type }));
  }
  const error = document.createElement("p");
  error.className = "error";
  error.hidden = true;
  set.append(error);
  return set;
}

function readValue(set) {
  const key = set.dataset.key;
  const type = set.dataset.type;
  if (["yes_no", "single_choice", "ordinal", "likert", "comparative"].includes(type)) {
    const checked = set.querySelector("input[type=radio]:checked");
    return checked ? JSON.parse(checked.value) : null;
  }
  if (type === "number") {
    const text = set.querySelector("input").value;
    return text === "" ? null : Number(text);
  }
  if (type === "text") {
    const text = set.querySelector("textarea").value;
    return text === "" ? null : text;
  }
  if (type === "vertebral_level") {
    const from = set.querySelector(`select[name="q-${key}-from"]`).value;
    const toSelect = set.querySelector(`select[name="q-${key}-to"]`);
    const to = toSelect ? toSelect.value : "";
    if (from === "") return null;
    if (from === "none" || to === "" || to === from) return from;
    return { from, to };
  }
  return undefined; // roi and computed are not typed by the reader
}

function writeValue(set, value) {
  const key = set.dataset.key;
  const type = set.dataset.type;
  if (["yes_no", "single_choice", "ordinal", "likert", "comparative"].includes(type)) {
    for (const input of set.querySelectorAll("input[type=radio]")) {
      input.checked = value !== null && value !== undefined && input.value === JSON.stringify(value);
    }
  } else if (type === "number") {
    set.querySelector("input").value = value ?? "";
  } else if (type === "text") {
    set.querySelector("textarea").value = value ?? "";
  } else if (type === "vertebral_level") {
    const from = set.querySelector(`select[name="q-${key}-from"]`);
    const to = set.querySelector(`select[name="q-${key}-to"]`);
    if (value && typeof value === "object") {
      from.value = value.from;
      if (to) to.value = value.to;
    } else {
      from.value = value ?? "";
      if (to) to.value = "";
    }
  } else if (type === "roi") {
    const output = set.querySelector("output");
    output.textContent = value
      ? fmt(gettext("%(slot)s slice %(slice)s: mean %(mean)s, SD %(sd)s, area %(area)s"), {
          slot: value.slot || "ROI",
          slice: value.slice + 1,
          mean: value.mean.toFixed(1),
          sd: value.sd.toFixed(1),
          area: value.area.toFixed(1),
        }) + (value.unit ? ` ${value.unit}` : "")
      : gettext("no measurement yet: draw an ROI in the viewer");
  } else if (type === "computed") {
    set.querySelector("output").textContent = value ?? "—";
  }
}

function showErrors(errors) {
  for (const set of el.form.querySelectorAll("fieldset.question")) {
    const error = set.querySelector(".error");
    const message = errors ? errors[set.dataset.key] : undefined;
    error.hidden = !message;
    error.textContent = message || "";
    set.classList.toggle("invalid", Boolean(message));
  }
}

function renderAnswers(answers) {
  for (const set of el.form.querySelectorAll("fieldset.question")) {
    const key = set.dataset.key;
    if (key in state.pending) continue; // the reader's unsaved edit wins on screen
    writeValue(set, answers[key] ?? null);
  }
}

function setEditable(editable) {
  state.locked = !editable;
  for (const input of el.form.querySelectorAll("input, select, textarea, button")) {
    input.disabled = !editable;
  }
  el.submit.disabled = !editable || state.amending;
  el.submit.hidden = state.amending;
}

function setAnswer(key, value) {
  if (state.locked) return;
  state.pending[key] = value;
  const set = el.form.querySelector(`fieldset[data-key="${key}"]`);
  if (set) writeValue(set, value);
  if (!state.amending) scheduleSave();
}

function scheduleSave() {
  clearTimeout(state.saveTimer);
  el.saved.textContent = gettext("Unsaved changes…");
  state.saveTimer = setTimeout(() => {
    save();
  }, SAVE_DELAY_MS);
}

async function save(options = {}) {
  clearTimeout(state.saveTimer);
  if (state.saving) await state.saving;
  const changes = state.pending;
  if (!Object.keys(changes).length || !state.reading || state.locked) return true;
  state.pending = {};
  const request = api("PUT", state.payload.urls.save, { answers: changes, version: state.reading.version }, options);
  state.saving = request;
  const { status, data } = await request;
  state.saving = null;
  if (status === 200) {
    state.reading = data;
    showErrors(null);
    renderAnswers(data.answers);
    el.saved.textContent = fmt(gettext("Saved %(time)s"), { time: new Date().toLocaleTimeString(document.documentElement.lang) });
    return true;
  }
  if (status === 409) {
    state.pending = { ...changes, ...state.pending };
    conflict(data);
    return false;
  }
  state.pending = { ...changes, ...state.pending };
  if (status === 400 && data && data.errors) {
    showErrors(data.errors);
    el.saved.textContent = gettext("Not saved: see the marked answers.");
  } else {
    el.saved.textContent = `${fmt(gettext("Not saved (%(status)s)."), { status })} ${(data && data.detail) || ""}`;
  }
  return false;
}

function conflict(data) {
  setEditable(false);
  showBanner((data && data.detail) || gettext("This case was changed elsewhere. Nothing was saved."), "error", {
    label: gettext("Reload"),
    run: () => window.location.reload(),
  });
}

async function submit() {
  if (state.locked) return;
  el.submit.disabled = true;
  if (state.saving) await state.saving;
  clearTimeout(state.saveTimer);
  const changes = state.pending;
  state.pending = {};
  const { status, data } = await api("POST", state.payload.urls.submit, {
    answers: changes,
    version: state.reading.version,
  });
  if (status === 200) {
    window.location.assign(data.next || data.home);
    return;
  }
  state.pending = { ...changes, ...state.pending };
  if (status === 400 && data && data.errors) {
    showErrors(data.errors);
    showBanner(gettext("Answer every required question before submitting."), "error");
  } else if (status === 409) {
    conflict(data);
    return;
  } else {
    showBanner(`${fmt(gettext("Not submitted (%(status)s)."), { status })} ${(data && data.detail) || ""}`, "error");
  }
  el.submit.disabled = false;
}

async function amend() {
  const reason = el.amendReason.value.trim();
  if (!reason) {
    showBanner(gettext("Give a reason for the amendment."), "error");
    return;
  }
  const { status, data } = await api("POST", state.payload.urls.amend, {
    answers: state.pending,
    version: state.reading.version,
    reason,
  });
  if (status === 201) {
    window.location.reload();
    return;
  }
  if (status === 400 && data && data.errors) {
    showErrors(data.errors);
  }
  showBanner(fmt(gettext("Not amended: %(reason)s"), { reason: (data && data.detail) || status }), "error");
}

function buildForm(payload) {
  el.form.replaceChildren(...payload.questions.map(renderQuestion));
  el.form.addEventListener("change", (event) => {
    const set = event.target.closest("fieldset.question");
    if (!set) return;
    const value = readValue(set);
    if (value !== undefined) setAnswer(set.dataset.key, value);
  });
  el.form.addEventListener("input", (event) => {
    if (event.target.tagName === "TEXTAREA") {
      const set = event.target.closest("fieldset.question");
      setAnswer(set.dataset.key, readValue(set));
    }
  });
}

// --- Viewer ----------------------------------------------------------------------------------

function onMeasurement(event) {
  // The viewer reports ROI measurements; an ROI question takes the one the reader picked with
  // "Use the next ROI", else the first unanswered ROI question. Its series is the viewport's
  // blinded UID, never an original one.
  const detail = event.detail || {};
  const rois = state.payload.questions.filter((q) => q.type === "roi");
  if (!rois.length || state.locked) return;
  const answers = { ...(state.reading ? state.reading.answers : {}), ...state.pending };
  const holding = rois.find((q) => answers[q.key]?.geometry?.annotationUID === detail.annotationUID);
  if (detail.action === "removed") {
    if (holding) setAnswer(holding.key, null);
    return;
  }
  const stats = detail.statistics || {};
  if (![stats.mean, stats.sd, stats.area].every((v) => typeof v === "number" && Number.isFinite(v))) return;
  let target = holding ? holding.key : null;
  if (!target && detail.action === "completed") {
    target = state.roiTarget || (rois.find((q) => answers[q.key] == null) || rois[0]).key;
    state.roiTarget = null;
  }
  if (!target) return;
  const viewport = state.payload.viewer.viewports.find((v) => v.id === detail.viewportId);
  setAnswer(target, {
    series: detail.seriesUid,
    slot: viewport ? viewport.label : "",
    slice: Math.max(0, Math.round(detail.sliceIndex || 0)),
    geometry: { ...(detail.geometry || {}), annotationUID: detail.annotationUID || "" },
    mean: stats.mean,
    sd: Math.abs(stats.sd),
    area: Math.abs(stats.area),
    unit: typeof stats.unit === "string" ? stats.unit : "",
  });
}

async function fallbackViewer(viewer) {
  // Without the viewer bundle: one scrollable stack of rendered slices per viewport.
  el.viewer.classList.add("fallback");
  const panels = [];
  for (const viewport of viewer.viewports) {
    const panel = document.createElement("figure");
    panel.className = "ws-panel";
    panel.dataset.viewport = viewport.id;
    const caption = document.createElement("figcaption");
    caption.textContent = viewport.label;
    const img = document.createElement("img");
    img.alt = viewport.label;
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.setAttribute("aria-label", fmt(gettext("Slice of %(viewport)s"), { viewport: viewport.label }));
    panel.append(caption, img, slider);
    el.viewer.append(panel);
    const url = `${viewer.dicomwebRoot}/studies/${viewport.studyUid}/series/${viewport.seriesUid}/instances`;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/dicom+json" } });
    const instances = response.ok ? await response.json() : [];
    instances.sort((a, b) => (a["00200013"]?.Value?.[0] ?? 0) - (b["00200013"]?.Value?.[0] ?? 0));
    const urls = instances.map((item) => `${item["00081190"].Value[0]}/rendered`);
    slider.max = String(Math.max(urls.length - 1, 0));
    const show = (index) => {
      slider.value = String(index);
      if (urls[index]) img.src = urls[index];
      panel.dataset.slice = String(index);
    };
    const own = { show, count: urls.length };
    panels.push(own);
    show(Math.floor(urls.length / 2));
    const scrollTo = (index) => {
      const fraction = urls.length > 1 ? index / (urls.length - 1) : 0;
      for (const other of viewer.syncSlices ? panels : [own]) {
        other.show(Math.round(fraction * Math.max(other.count - 1, 0)));
      }
    };
    slider.addEventListener("input", () => scrollTo(Number(slider.value)));
    img.addEventListener("wheel", (event) => {
      event.preventDefault();
      const current = Number(slider.value);
      scrollTo(Math.min(Math.max(current + Math.sign(event.deltaY), 0), urls.length - 1));
    });
  }
}

async function mountViewer(payload) {
  const viewer = payload.viewer;
  el.viewer.addEventListener("sagittal:measurement", onMeasurement);
  if (window.SagittalViewer && typeof window.SagittalViewer.mount === "function") {
    try {
      state.viewer = window.SagittalViewer.mount(el.viewer, {
        dicomwebRoot: viewer.dicomwebRoot,
        layout: viewer.layout,
        syncSlices: viewer.syncSlices,
        viewports: viewer.viewports.map((v) => ({
          ...v,
          overlay: v.overlay || undefined,
          windowPreset: v.windowPreset || undefined,
        })),
        header: payload.title,
        onNext: payload.next ? () => window.location.assign(payload.next) : undefined,
        onPrevious: payload.previous ? () => window.location.assign(payload.previous) : undefined,
      });
      return;
    } catch (error) {
      console.error("the viewer failed to mount; showing rendered slices instead", error);
      el.viewer.replaceChildren();
    }
  }
  await fallbackViewer(viewer);
}

// --- Start -----------------------------------------------------------------------------------

function heartbeat() {
  const active = Date.now() - state.lastInteraction < IDLE_AFTER_MS;
  if (!state.reading || state.locked || !active) return;
  if (document.visibilityState !== "visible" || !document.hasFocus()) return;
  api("POST", state.payload.urls.heartbeat);
}

function link(anchor, href) {
  anchor.hidden = !href;
  if (href) anchor.href = href;
}

async function start() {
  for (const type of ["pointerdown", "keydown", "wheel"]) {
    document.addEventListener(type, () => {
      state.lastInteraction = Date.now();
    }, { passive: true });
  }
  const { status, data } = await api("POST", config.openUrl);
  if (status !== 200) {
    showBanner((data && data.detail) || fmt(gettext("This case cannot be opened (%(status)s)."), { status }), "error", {
      label: gettext("Your readings"),
      run: () => window.location.assign(config.homeUrl),
    });
    return;
  }
  state.payload = data;
  state.reading = data.reading;
  el.progress.textContent = data.title;
  el.instructions.textContent = data.instructions || "";
  document.title = `${data.title} · Sagittal`;
  link(el.previous, data.previous);
  link(el.next, data.next);
  buildForm(data);
  renderAnswers(data.reading ? data.reading.answers : {});
  setEditable(data.editable);
  if (data.reading && data.reading.status === "submitted") {
    showBanner(
      data.reading.amendment_reason
        ? fmt(gettext("Submitted (amended: %(reason)s)."), { reason: data.reading.amendment_reason })
        : gettext("Submitted: this reading is locked."),
      "info",
    );
  }
  if (data.amendable) {
    el.amend.hidden = false;
    el.amendStart.addEventListener("click", () => {
      state.amending = true;
      setEditable(true);
      el.amendStart.hidden = true;
      el.amendSave.hidden = false;
    });
    el.amendSave.addEventListener("click", amend);
  }
  el.submit.addEventListener("click", submit);
  setInterval(heartbeat, (config.heartbeatSeconds || 15) * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && Object.keys(state.pending).length && !state.amending) {
      save({ keepalive: true });
    }
  });
  await mountViewer(data);
}

start();
