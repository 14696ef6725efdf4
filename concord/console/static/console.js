// Puts the keyboard focus on the error summary after a refused form, so a screen reader announces it first.
document.addEventListener("DOMContentLoaded", function () {
  var target = document.querySelector("[data-focus]");
  if (target) { target.focus(); }
});
