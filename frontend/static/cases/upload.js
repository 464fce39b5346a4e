// Upload page: sends files in batches to the uploads API, with a progress bar over all bytes,
// and lists what became of every file. Folders dropped on the page are walked recursively.
const root = document.getElementById("upload");
const endpoint = root.dataset.endpoint;
const maxBytes = Number(root.dataset.maxBytes);
const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
const bar = document.getElementById("bar");
const progress = root.querySelector(".progress");
const summary = document.getElementById("summary");
const reportBody = document.querySelector("#report tbody");
const BATCH_FILES = 32;
const BATCH_BYTES = 64 * 1024 * 1024;
const totals = { stored: 0, duplicate: 0, quarantined: 0, rejected: 0 };

function batches(files) {
  const result = [];
  let current = [], size = 0;
  for (const file of files) {
    if (current.length && (current.length >= BATCH_FILES || size + file.size > BATCH_BYTES)) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(file);
    size += file.size;
  }
  if (current.length) result.push(current);
  return result;
}

// gettext() and interpolate(): Django's JavaScript catalogue, loaded by the page.
const fmt = (text, values) => interpolate(text, values, true);
const STATUS_LABELS = {
  stored: gettext("stored"),
  duplicate: gettext("already stored"),
  quarantined: gettext("quarantined for review"),
  rejected: gettext("rejected"),
};

function addRow(name, status, reason) {
  const row = reportBody.insertRow();
  row.insertCell().textContent = name;
  const cell = row.insertCell();
  cell.textContent = STATUS_LABELS[status] || status;
  cell.className = `status-${status}`;
  row.insertCell().textContent = reason || "";
}

function setProgress(fraction) {
  const percent = Math.round(fraction * 100);
  bar.style.width = `${percent}%`;
  progress.setAttribute("aria-valuenow", String(percent));
}

function send(batch, onProgress) {
  return new Promise((resolve) => {
    const form = new FormData();
    for (const file of batch) form.append("files", file, file.webkitRelativePath || file.name);
    const request = new XMLHttpRequest();
    request.open("POST", endpoint);
    request.setRequestHeader("X-CSRFToken", csrf);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { body = null; }
      resolve({ status: request.status, body });
    };
    request.onerror = () => resolve({ status: 0, body: null });
    request.send(form);
  });
}

async function upload(files) {
  files = files.filter((file) => file.size > 0);
  if (!files.length) return;
  const tooLarge = files.filter((file) => file.size > maxBytes);
  for (const file of tooLarge) addRow(file.name, "rejected", fmt(gettext("larger than the %(bytes)s-byte limit"), { bytes: maxBytes }));
  files = files.filter((file) => file.size <= maxBytes);
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0) || 1;
  let doneBytes = 0;
  for (const batch of batches(files)) {
    const batchBytes = batch.reduce((sum, file) => sum + file.size, 0);
    summary.textContent = fmt(gettext("Uploading… %(percent)s"), { percent: `${Math.round((100 * doneBytes) / totalBytes)}%` });
    const { status, body } = await send(batch, (loaded) => setProgress((doneBytes + loaded) / totalBytes));
    doneBytes += batchBytes;
    setProgress(doneBytes / totalBytes);
    if (status === 200 && body) {
      for (const line of body.files) {
        totals[line.status] += 1;
        addRow(line.name, line.status, line.reason);
      }
    } else {
      const reason = (body && (body.detail || body.error || JSON.stringify(body))) || gettext("the server could not be reached");
      for (const file of batch) {
        totals.rejected += 1;
        addRow(file.webkitRelativePath || file.name, "rejected", reason);
      }
    }
  }
  summary.textContent = fmt(
    gettext("Done: %(stored)s stored, %(duplicate)s already stored, %(quarantined)s quarantined for review, %(rejected)s rejected."),
    totals,
  );
}

async function entryFiles(entry) {
  if (entry.isFile) return [await new Promise((resolve, reject) => entry.file(resolve, reject))];
  const reader = entry.createReader();
  const files = [];
  for (;;) {
    const entries = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!entries.length) return files;
    for (const child of entries) files.push(...(await entryFiles(child)));
  }
}

const dropzone = document.getElementById("dropzone");
dropzone.addEventListener("dragover", (event) => { event.preventDefault(); dropzone.classList.add("over"); });
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", async (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry()).filter(Boolean);
  const files = [];
  for (const entry of entries) files.push(...(await entryFiles(entry)));
  await upload(files);
});
for (const id of ["pick-files", "pick-folder"]) {
  const input = document.getElementById(id);
  input.addEventListener("change", async () => {
    await upload([...input.files]);
    input.value = "";
  });
}
