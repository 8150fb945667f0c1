/*
 * The --html report of `quiesce check`: one self-contained file (no network, no libraries).
 * Each circular report is drawn as an SVG ring of its classes with an arrow per dependency;
 * hovering an arrow shows where that dependency was first seen, clicking pins it below the
 * drawing. Every other report is listed with its kernel-style text.
 */
import type { StoredReport } from './check.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The stack text for edge from->to, from the report's structured edges or its text. */
function edgeStack(r: StoredReport, from: string, to: string): string {
  const e = r.edges?.find((x) => x.from === from && x.to === to);
  if (e?.stack) return e.stack;
  // Fall back to the "-> #n (to):" paragraph of the kernel-style text.
  const m = r.text.split(/\n(?=-> #\d+ )/).find((p) => p.startsWith('-> #') && p.includes(`(${to})`));
  return m ?? `${from} -> ${to}`;
}

function cycleSvg(r: StoredReport, id: number): string {
  const n = r.classes.length;
  const W = 520;
  const H = 360;
  const cx = W / 2;
  const cy = H / 2;
  const R = Math.min(W, H) / 2 - 60;
  const pos = r.classes.map((_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a) };
  });
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const from = r.classes[i]!;
    const to = r.classes[(i + 1) % n]!;
    const a = pos[i]!;
    const b = pos[(i + 1) % n]!;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    // Bend every arrow to its left, so A->B and B->A of a two-class cycle are two arcs, not one line.
    const bend = n === 2 ? 70 : 30;
    const qx = (a.x + b.x) / 2 + (dy / len) * bend;
    const qy = (a.y + b.y) / 2 - (dx / len) * bend;
    const trim = (px: number, py: number, toX: number, toY: number): [number, number] => {
      const l = Math.hypot(toX - px, toY - py) || 1;
      return [px + ((toX - px) / l) * 40, py + ((toY - py) / l) * 40]; // stop at the node's rim
    };
    const [x1, y1] = trim(a.x, a.y, qx, qy);
    const [x2, y2] = trim(b.x, b.y, qx, qy);
    const d = `M${x1.toFixed(1)},${y1.toFixed(1)} Q${qx.toFixed(1)},${qy.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`;
    const stack = edgeStack(r, from, to);
    parts.push(
      `<g class="edge" data-detail="${esc(`${from} -> ${to}\n\n${stack}`)}" onclick="pin(${id}, this)">` +
        `<title>${esc(`${from} -> ${to}\n${stack}`)}</title>` +
        `<path d="${d}" marker-end="url(#arrow)"/><path class="hit" d="${d}"/></g>`,
    );
  }
  r.classes.forEach((c, i) => {
    const p = pos[i]!;
    parts.push(`<g class="node"><ellipse cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" rx="56" ry="24"/><text x="${p.x.toFixed(1)}" y="${(p.y + 5).toFixed(1)}">${esc(c)}</text></g>`);
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="lock cycle ${esc(r.classes.join(' -> '))}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>
${parts.join('\n')}</svg>`;
}

export function renderHtml(command: string[], reports: StoredReport[]): string {
  const cycles = reports.filter((r) => r.kind === 'circular' && r.classes.length >= 2);
  const others = reports.filter((r) => !cycles.includes(r));
  const sections = cycles.map(
    (r, i) => `<section class="report">
<h2>Circular dependency: ${r.classes.map(esc).join(' &rarr; ')} &rarr; ${esc(r.classes[0]!)}</h2>
<div class="draw">${cycleSvg(r, i)}<pre class="pinned" id="pin${i}">Hover an arrow to see where that dependency was first seen; click to pin it here.</pre></div>
<details><summary>Full report</summary><pre>${esc(r.text)}</pre></details>
</section>`,
  );
  const rest = others.map((r) => `<section class="report"><h2>${esc(r.kind)}: ${esc(r.classes.join(', '))}</h2><pre>${esc(r.text)}</pre></section>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quiesce check: ${reports.length} report(s)</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} h2{font-size:16px;margin:0 0 8px}
.report{background:#fff;border:1px solid #ddd;border-radius:6px;padding:16px;margin:16px 0}
.draw{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
svg .node ellipse{fill:#fdf2e9;stroke:#c0392b;stroke-width:2}
svg .node text{text-anchor:middle;font:bold 13px monospace;fill:#222}
svg .edge path{stroke:#c0392b;stroke-width:2.5;fill:none}
svg .edge path.hit{stroke:transparent;stroke-width:16;cursor:pointer}
svg .edge:hover path:not(.hit){stroke:#e67e22;stroke-width:4}
pre{white-space:pre-wrap;font:12px/1.35 monospace;background:#f4f4f4;padding:8px;border-radius:4px;max-width:900px;overflow:auto}
.pinned{min-width:320px;flex:1}
.ok{color:#1e8449}
</style></head><body>
<h1>quiesce check</h1>
<p>Command: <code>${esc(command.join(' '))}</code> &mdash; ${reports.length === 0 ? '<span class="ok">no problems found</span>' : `${reports.length} report(s): ${cycles.length} cycle(s), ${others.length} other`}</p>
${sections.join('\n')}
${rest.join('\n')}
<script>
function pin(i, g) { document.getElementById('pin' + i).textContent = g.getAttribute('data-detail'); }
document.querySelectorAll('.edge').forEach(function (g) {
  g.addEventListener('mouseenter', function () {
    var pre = g.closest('.draw').querySelector('.pinned');
    if (!pre.dataset.locked) pre.textContent = g.getAttribute('data-detail');
  });
  g.addEventListener('click', function () { g.closest('.draw').querySelector('.pinned').dataset.locked = '1'; });
});
</script>
</body></html>
`;
}
