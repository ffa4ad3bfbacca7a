// The till's camera: shows the back camera, decodes QR codes from its frames with the
// vendored jsQR, puts what it read into the code field and submits the lookup. Without a
// camera (or permission) the field still takes a hardware scanner or typing.
(function () {
  'use strict';
  var form = document.getElementById('scan-form');
  var start = document.getElementById('start-camera');
  var box = document.getElementById('scanner');
  var video = document.getElementById('camera');
  var status = document.getElementById('camera-status');
  var input = document.getElementById('scan');
  if (!form || !start || !video || typeof window.jsQR !== 'function' ||
      !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  start.hidden = false;
  var canvas = document.createElement('canvas');
  var ctx2d = canvas.getContext('2d', { willReadFrequently: true });
  var stream = null;
  var done = false;

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
  }

  function tick() {
    if (done || !stream) return;
    if (video.readyState >= 2 && video.videoWidth > 0) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx2d.drawImage(video, 0, 0, canvas.width, canvas.height);
      var img = ctx2d.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' });
      if (code && code.data) {
        done = true;
        stop();
        input.value = code.data;
        form.submit();
        return;
      }
    }
    setTimeout(tick, 150);
  }

  start.addEventListener('click', function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false })
      .then(function (s) {
        stream = s;
        box.hidden = false;
        start.hidden = true;
        video.srcObject = s;
        return video.play();
      })
      .then(function () { status.textContent = start.getAttribute('data-scanning') || ''; tick(); })
      .catch(function (e) { status.textContent = String(e && e.name || e); box.hidden = false; });
  });
  // A scanner at a till opens the camera by itself when asked to (?camera=1).
  if (/[?&]camera=1\b/.test(location.search)) start.click();
  window.addEventListener('pagehide', stop);
})();
