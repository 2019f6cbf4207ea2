// Copy and Print for the recovery codes page: the buttons are hidden until
// this script shows them, so without JavaScript only what works is shown
// (the download link, and noting the codes down).
(function () {
  "use strict";
  var copy = document.querySelector("[data-copy]"), print = document.querySelector("[data-print]");
  var status = document.getElementById("copy_status");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var codes = Array.prototype.map.call(document.querySelectorAll("#" + copy.dataset.copy + " code"), function (c) {
        return c.textContent;
      });
      navigator.clipboard.writeText(codes.join("\n")).then(function () {
        status.textContent = "Copied.";
      }, function () {
        status.textContent = "Couldn't copy: note the codes down or download them.";
      });
    });
  }
  if (print && window.print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
})();
