// Live countdown for elements with data-deadline="<ISO 8601>"; no dependencies.
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.deadline) - now) / 1000);
      if (left <= 0) {
        el.textContent = el.dataset.expiredText || "expired";
        el.classList.remove("text-bg-warning", "text-bg-success");
        el.classList.add("text-bg-danger");
        return;
      }
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      var m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (d ? d + (el.dataset.daySuffix || "d") + " " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
      el.classList.toggle("text-bg-warning", left < 3600);
      el.classList.toggle("text-bg-success", left >= 3600);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
