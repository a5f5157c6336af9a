// Asks the app behind the static files for the time, once a second.
async function tick() {
  const res = await fetch('api/time');
  document.getElementById('time').textContent = (await res.json()).time;
}
tick();
setInterval(tick, 1000);
