// Buttons marked data-print print the page (no inline scripts under the site's CSP).
document.querySelectorAll("[data-print]").forEach(function (b) { b.addEventListener("click", function () { window.print(); }); });
