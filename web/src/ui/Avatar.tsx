// A round avatar: the picture when there is one, else initials on a
// colour derived from the id (stable across sessions).

const COLORS = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"];

function initials(name: string): string {
  const s = name.trim();
  if (!s) return "?";
  const chars = [...s];
  // CJK names: the first character; others: first letters of two words.
  if (/[\u3400-\u9fff]/.test(chars[0]!)) return chars[0]!;
  const words = s.split(/\s+/);
  return ((words[0]?.[0] ?? "") + (words[1]?.[0] ?? "")).toUpperCase() || "?";
}

export function Avatar(p: { id: string; name: string; src?: string; size?: number; online?: boolean }) {
  const size = p.size ?? 40;
  let h = 0;
  for (const c of p.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const bg = COLORS[h % COLORS.length];
  const src = p.src && /^(\/|https?:|blob:|data:image\/)/.test(p.src) ? p.src : "";
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, background: src ? undefined : bg, fontSize: `${Math.round(size * 0.4)}px` }} aria-hidden="true">
      {src ? <img src={src} alt="" /> : initials(p.name)}
      {p.online ? <span class="avatar-online" /> : null}
    </span>
  );
}
