// The header's language switch submits as soon as a language is picked (without script, the
// form's own button does).
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.id === "language-switch") {
    select.form.submit();
  }
});
