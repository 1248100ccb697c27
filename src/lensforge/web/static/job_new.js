// The new-job form: choosing another dataset reloads the form for that dataset's task, so the
// trainer and models offered are those that can train it (the trainer is kept if it can).
"use strict";
(function () {
  const select = document.querySelector("select[data-reload-param]");
  if (!select) return;
  select.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set(select.dataset.reloadParam, select.value);
    window.location.assign(url.toString());
  });
})();
