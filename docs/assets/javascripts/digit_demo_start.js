// Deployment's demo (ch07/deployment.md): nothing loads until Start. The page
// carries this script inline (pymdownx.snippets includes it), so no other page
// pays for it. Start loads two scripts, each named by one of the page's links:
// #digit-demo-script (digit_demo.js) and #digit-demo-data, which sets
// window.DigitDemoData. Scripts, not fetch(): Chromium refuses fetch() to a
// page read from disk (the offline book), not a script.
(() => {
  const load = (url) => new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src: url, onload: resolve });
    script.onerror = () => reject(new Error(`${url.split("/").pop()} did not load`));
    document.head.append(script);
  });
  const href = (id) => document.getElementById(id).href;
  function start(event) {
    const button = event.currentTarget;
    button.disabled = true;
    button.textContent = "Loading…";
    Promise.resolve() // whatever fails, even a page without the links, is said on the button
      .then(() => Promise.all([load(href("digit-demo-script")), load(href("digit-demo-data"))]))
      .then(() => DigitDemo.mount(button.closest(".digit-demo"), window.DigitDemoData))
      .catch((error) => {
        button.textContent = `The demo could not start: ${error.message}`;
        button.disabled = false; // the reader may try again
        button.addEventListener("click", start, { once: true });
      });
  }
  const wire = () => document.querySelectorAll(".digit-demo__start")
    .forEach((button) => button.addEventListener("click", start, { once: true }));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
