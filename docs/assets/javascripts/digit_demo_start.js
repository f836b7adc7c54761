// Deployment's demo (ch07/deployment.md): nothing loads until Start. Then two
// scripts: digit_demo.js, beside this one, and the link #digit-demo-data,
// which sets window.DigitDemoData. Scripts, not fetch(): Chromium refuses
// fetch() to a page read from disk (the offline book), not a script.
(() => {
  const here = document.currentScript.src;
  const load = (url) => new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src: url, onload: resolve });
    script.onerror = () => reject(new Error(`${url.split("/").pop()} did not load`));
    document.head.append(script);
  });
  function start(event) {
    const button = event.currentTarget, data = document.getElementById("digit-demo-data");
    button.disabled = true;
    button.textContent = "Loading…";
    Promise.resolve() // whatever fails, even a page without the link, is said on the button
      .then(() => Promise.all([load(new URL("digit_demo.js", here).href), load(data.href)]))
      .then(() => DigitDemo.mount(button.closest(".digit-demo"), window.DigitDemoData))
      .catch((error) => { button.textContent = `The demo could not start: ${error.message}`; });
  }
  const wire = () => document.querySelectorAll(".digit-demo__start")
    .forEach((button) => button.addEventListener("click", start, { once: true }));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
