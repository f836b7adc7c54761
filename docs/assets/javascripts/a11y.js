// Accessibility fixes that need the page's final markup (checked by axe in the tests).
function improveAccessibility(root) {
  // Material's code-annotation markers are links with no text of their own: name them.
  root.querySelectorAll("a.md-annotation__index:not([aria-label])").forEach((link) => {
    const marker = link.closest(".md-annotation");
    const number = marker ? [...marker.parentElement.querySelectorAll(".md-annotation")].indexOf(marker) + 1 : "";
    link.setAttribute("aria-label", `Open annotation ${number}`.trim());
  });
  // Notebook code cells scroll sideways: let a keyboard user reach and scroll them.
  root.querySelectorAll(".highlight-ipynb:not([tabindex])").forEach((cell) => {
    cell.setAttribute("tabindex", "0");
  });
}
// Annotations are mounted by Material's own scripts: fix them whenever they appear.
new MutationObserver(() => improveAccessibility(document)).observe(document.documentElement, {
  childList: true,
  subtree: true,
});
improveAccessibility(document);
