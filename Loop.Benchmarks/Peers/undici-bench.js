// Node's undici as a client of the benchmark suite (Loop.Benchmarks/Suite/UndiciClient.cs):
// a Pool with one connection per concurrent request, N workers fetching in a loop and reading
// each body whole, a warm-up (V8 tiers up too), then a timed run. Prints one JSON line.
// Usage: node undici-bench.js MODULES_DIR URL CONCURRENCY CLOSE(0|1) WARMUP_S DURATION_S
'use strict';

const path = require('node:path');
const [modules, url, concurrencyText, closeText, warmupText, durationText] = process.argv.slice(2);
const { Pool } = require(path.join(modules, 'undici'));
const target = new URL(url);
const concurrency = Number(concurrencyText);
const close = closeText === '1';
const pool = new Pool(target.origin, { connections: concurrency });
const headers = close ? { connection: 'close' } : {};

async function run(seconds, latencies) {
  const deadline = performance.now() + seconds * 1000;
  let ok = 0;
  let errors = 0;
  async function worker() {
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        const { statusCode, body } = await pool.request({ path: target.pathname, method: 'GET', headers });
        await body.arrayBuffer();
        if (statusCode === 200) ok++; else errors++;
      } catch {
        errors++;
      }
      latencies.push((performance.now() - started) * 1000);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, errors };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p / 100) - 1))];
}

(async () => {
  await run(Number(warmupText), []);
  const latencies = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { ok, errors } = await run(Number(durationText), latencies);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const all = Math.max(1, ok + errors);
  console.log(JSON.stringify({
    requests: ok,
    errors,
    seconds,
    p50Us: percentile(latencies, 50),
    p99Us: percentile(latencies, 99),
    cpuUsPerRequest: (used.user + used.system) / all,
  }));
  await pool.close();
})().catch((e) => {
  console.error(e && e.stack || String(e));
  process.exit(1);
});
