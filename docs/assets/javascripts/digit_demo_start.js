// The drawing demo of "Deployment" (docs/ch07/deployment.md), step one: a
// page with a demo gets a Start button's behaviour, and nothing else is
// fetched until it is pressed. Then digit_demo.js (beside this file) and the
// weights (the page's link #digit-weights) are loaded.
(() => {
  const here = document.currentScript && document.currentScript.src;
  function start(event) {
    const demo = event.currentTarget.closest(".digit-demo");
    event.currentTarget.disabled = true;
    event.currentTarget.textContent = "Loading…";
    const ready = window.DigitDemo
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const script = document.createElement("script");
          script.src = new URL("digit_demo.js", here).href;
          script.onload = resolve;
          script.onerror = () => reject(new Error("digit_demo.js did not load"));
          document.head.append(script);
        });
    ready
      .then(() => window.DigitDemo.mount(demo))
      .catch((error) => {
        event.currentTarget.textContent = `The demo could not start: ${error.message}`;
      });
  }
  function wire() {
    document.querySelectorAll(".digit-demo__start").forEach((button) => {
      button.addEventListener("click", start, { once: true });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
