// The authorship page: each author's colour, from the legend's data-color, given to the
// author's class through the CSS object model. The Content-Security-Policy ignores
// style attributes in the page, not rules added this way.
const sheet = new CSSStyleSheet();
for (const item of document.querySelectorAll("#legend [data-author-class]")) {
  const { authorClass, color } = item.dataset;
  if (/^author-\d+$/.test(authorClass) && CSS.supports("color", color)) {
    sheet.insertRule(`.${authorClass} { --author-color: ${color}; --person-color: ${color}; }`);
  }
}
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
