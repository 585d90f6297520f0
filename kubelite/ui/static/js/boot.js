// The page's only <script>: it imports the app's modules, and reloads the page when that fails.
// Chromium fails loads in flight with ERR_NETWORK_CHANGED whenever the machine's network
// changes (a container starting), and a module graph that failed to load stays failed for the
// document; a reload starts a new one. At most three reloads in a row, then a plain message.
(function boot() {
  const KEY = "kubelite.boot-reloads";
  import("./app.js").then(() => sessionStorage.removeItem(KEY), (err) => {
    const reloads = Number(sessionStorage.getItem(KEY) || 0);
    if (reloads >= 3) {
      sessionStorage.removeItem(KEY);
      document.getElementById("main").textContent = `The dashboard did not load (${err}). Reload the page to try again.`;
      return;
    }
    sessionStorage.setItem(KEY, String(reloads + 1));
    setTimeout(() => location.reload(), 250 * 2 ** reloads);
  });
})();
