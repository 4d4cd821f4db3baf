// 审核队列: the "select all" box ticks every parcel of the page.
// 审核表: the print button (no inline handlers: the Content-Security-Policy allows none).
(function () {
  "use strict";
  var all = document.getElementById("check-all");
  if (all) {
    all.addEventListener("change", function () {
      var boxes = document.querySelectorAll("#queue input[name=parcel_id]");
      for (var i = 0; i < boxes.length; i += 1) { boxes[i].checked = all.checked; }
    });
  }
  var print = document.getElementById("print");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
  }
}());
