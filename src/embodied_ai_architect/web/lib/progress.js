// A progress bar with stage and message, fed by job events.
import { h } from "./dom.js";

export function progressBar(id) {
  const bar = h("div", { class: "bar-fill" });
  const meter = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, id }, bar);
  const stage = h("span", { class: "stage" });
  const message = h("span", { class: "muted message" });
  const percent = h("span", { class: "percent" }, "0 %");
  const el = h("div", { class: "progress" }, meter, h("p", { class: "progress-text" }, percent, " ", stage, " ", message));
  return {
    el,
    update(value, stageText = "", messageText = "") {
      bar.style.width = `${value}%`;
      meter.setAttribute("aria-valuenow", Math.round(value));
      percent.textContent = `${Math.round(value)} %`;
      stage.textContent = stageText;
      stage.dataset.stage = stageText;
      message.textContent = messageText;
    },
  };
}
