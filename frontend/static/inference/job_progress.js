// Live progress of the rows of a jobs table (#jobs tr[data-job]): polls each unfinished job's
// API entry once a second and renders state, progress, errors and outputs.
(() => {
  // gettext() and interpolate(): Django's JavaScript catalogue, loaded by the page.
  const labels = {
    PENDING: gettext("Pending"),
    RUNNING: gettext("Running"),
    SUCCEEDED: gettext("Succeeded"),
    FAILED: gettext("Failed"),
    CANCELLED: gettext("Cancelled"),
  };
  const text = (value) => document.createTextNode(value == null ? "" : String(value));

  function render(row, job) {
    const bar = row.querySelector(".progress");
    bar.setAttribute("aria-valuenow", job.progress);
    bar.firstElementChild.style.width = job.progress + "%";
    row.querySelector(".percent").textContent = job.progress + "%";
    row.querySelector(".message").textContent = job.message;
    const state = row.querySelector(".state");
    state.replaceChildren(text(labels[job.state] || job.state), document.createElement("br"));
    const attempts = document.createElement("small");
    attempts.className = "attempts";
    attempts.textContent = interpolate(gettext("attempt %(attempt)s of %(attempts)s"), { attempt: job.attempts, attempts: job.max_attempts }, true);
    state.append(attempts);
    const error = row.querySelector(".job-error");
    error.textContent = job.error;
    error.hidden = !job.error;
    if (job.is_terminal) {
      row.dataset.terminal = "1";
      row.querySelector("form.cancel")?.remove();
      const outputs = row.querySelector(".outputs");
      outputs.replaceChildren();
      for (const series of job.outputs) {
        const item = document.createElement("div");
        const link = document.createElement("a");
        link.href = `/viewer/cases/${row.dataset.case}/?series=${encodeURIComponent(series.series_instance_uid)}`;
        link.textContent = series.description;
        const web = document.createElement("a");
        web.href = series.dicomweb_url;
        web.textContent = "DICOMweb";
        const note = document.createElement("small");
        note.append(text(` (${series.modality}, `), web, text(")"));
        item.append(link, text(" "), note);
        outputs.append(item);
      }
    }
  }

  async function poll() {
    const rows = [...document.querySelectorAll("#jobs tr[data-job]")].filter((row) => row.dataset.terminal !== "1");
    await Promise.all(rows.map(async (row) => {
      try {
        const response = await fetch(`/api/v1/inference/jobs/${row.dataset.job}/`, {credentials: "same-origin", headers: {Accept: "application/json"}});
        if (response.ok) render(row, await response.json());
      } catch (error) { /* the next poll tries again */ }
    }));
    if (rows.length) setTimeout(poll, 1000);
  }
  poll();
})();
