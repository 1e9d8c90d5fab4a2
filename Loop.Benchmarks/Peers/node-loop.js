// The loop benchmarks' peer on libuv (through Node.js), for side-by-side ratios with
// CallbackBenchmarks and TimerBenchmarks: 1,000,000 setImmediate callbacks queued then drained,
// and 200,000 timers with random 0-10 ms delays. Prints the median of 5 runs after a warm-up.
// Usage: node Loop.Benchmarks/Peers/node-loop.js
'use strict';

function callbacks() {
  return new Promise((resolve) => {
    const n = 1_000_000;
    let count = 0;
    const start = process.hrtime.bigint();
    const cb = () => {
      if (++count === n) resolve(Number(process.hrtime.bigint() - start) / n);
    };
    for (let i = 0; i < n; i++) setImmediate(cb);
  });
}

function timers() {
  return new Promise((resolve) => {
    const n = 200_000;
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    let count = 0;
    const start = process.hrtime.bigint();
    const cb = () => {
      if (++count === n) resolve(Number(process.hrtime.bigint() - start) / n);
    };
    for (let i = 0; i < n; i++) setTimeout(cb, random() * 10);
  });
}

async function median(fn) {
  await fn();
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await fn());
  runs.sort((a, b) => a - b);
  return runs[2];
}

(async () => {
  const cbNs = await median(callbacks);
  const tmNs = await median(timers);
  console.log(`node ${process.version} setImmediate: ${cbNs.toFixed(1)} ns/callback = ${(1e3 / cbNs).toFixed(2)} M/s`);
  console.log(`node ${process.version} setTimeout:   ${tmNs.toFixed(1)} ns/timer = ${(1e3 / tmNs).toFixed(2)} M/s`);
})();
