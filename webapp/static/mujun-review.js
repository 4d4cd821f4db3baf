// 审核队列: the "select all" box ticks every parcel of the page.
(function () {
  "use strict";
  var all = document.getElementById("check-all");
  if (!all) { return; }
  all.addEventListener("change", function () {
    var boxes = document.querySelectorAll("#queue input[name=parcel_id]");
    for (var i = 0; i < boxes.length; i += 1) { boxes[i].checked = all.checked; }
  });
}());
