// Behaviour shared by every page, kept out of the templates for the Content-Security-Policy.
(function () {
  // <select data-autosubmit> submits its form when changed (language switch, list filters).
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]") && event.target.form) event.target.form.submit();
  });
  // Forms marked data-swap-errors="429" show the server's answer for that status instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var statuses = (event.detail.elt.closest("[data-swap-errors]") || {dataset: {}}).dataset.swapErrors;
    if (statuses && statuses.split(",").indexOf(String(event.detail.xhr.status)) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
