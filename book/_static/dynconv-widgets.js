// Loaded between require.js and the Jupyter widget manager (see _config.yml, nb_ipywidgets_js).
// 1. The widget manager computes where its fonts live from the require.js module path, which by
//    default is the page's own folder: point its modules at the copy vendored in _static.
// 2. ipywidgets typesets labels with the MathJax 2 API (MathJax.Hub.Queue); this site runs
//    MathJax 3, which has no Hub. Give it one that calls MathJax 3's typesetPromise.
(function () {
  var manager = document.currentScript.src.replace(/[^/]*$/, "") + "vendor/html-manager";
  window.require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": manager,
      "@jupyter-widgets": manager,
      "@jupyter-widgets/controls": manager + "/controls",
      "@jupyter-widgets/base": manager + "/base",
      "@jupyter-widgets/output": manager + "/output",
    },
  });

  function addHub() {
    var mathjax = window.MathJax;
    if (mathjax && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          var element = job && job[2];
          if (window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise(element ? [element] : undefined).catch(function () {});
          }
        },
      };
    }
  }
  addHub();
  document.addEventListener("DOMContentLoaded", addHub);
  window.addEventListener("load", addHub);
})();
