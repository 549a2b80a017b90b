// A virtualised list of variable-height rows, bottom-anchored like a chat:
// only rows near the viewport are in the DOM (a conversation of 10,000
// messages renders a few dozen), measured heights replace estimates as
// rows render, prepending older rows keeps what the user looks at still,
// and a list scrolled to the bottom stays there as rows arrive.

import type { ComponentChildren } from "preact";
import { useCallback, useLayoutEffect, useRef, useState } from "preact/hooks";

export interface VirtualListProps<T> {
  items: T[];
  keyOf: (item: T) => string;
  render: (item: T, index: number) => ComponentChildren;
  estimate: number;
  overscanPx?: number;
  /** Called when the top is near (load older). */
  onTop?: () => void;
  /** Called with whether the view is at the bottom. */
  onBottomChange?: (atBottom: boolean) => void;
  header?: ComponentChildren;
  /** Changing this scrolls to the bottom (e.g. after sending). */
  scrollToBottomToken?: number;
  class?: string;
  label?: string;
}

const BOTTOM_SLACK = 48;

export function VirtualList<T>(p: VirtualListProps<T>) {
  const ref = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [, force] = useState(0);
  const [scroll, setScroll] = useState({ top: 0, height: 800 });
  const atBottom = useRef(true);
  /** The row at the top of the view and how far into it the view starts. */
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const prevTotal = useRef(0);
  const observer = useRef<ResizeObserver | null>(null);
  const overscan = p.overscanPx ?? 800;

  const keys = p.items.map(p.keyOf);
  const heightOf = (k: string) => heights.current.get(k) ?? p.estimate;
  const offsets = new Array<number>(keys.length + 1);
  offsets[0] = 0;
  for (let i = 0; i < keys.length; i++) offsets[i + 1] = offsets[i]! + heightOf(keys[i]!);
  const total = offsets[keys.length]!;

  // Visible range by binary search over offsets.
  const from = Math.max(0, scroll.top - overscan);
  const to = scroll.top + scroll.height + overscan;
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1]! < from) lo = mid + 1;
    else hi = mid;
  }
  const start = lo;
  let end = start;
  while (end < keys.length && offsets[end]! < to) end++;

  const measure = useCallback((el: Element) => {
    const k = (el as HTMLElement).dataset.key;
    if (!k) return;
    const h = (el as HTMLElement).offsetHeight;
    if (h > 0 && heights.current.get(k) !== h) {
      heights.current.set(k, h);
      return true;
    }
    return false;
  }, []);

  if (!observer.current && typeof ResizeObserver !== "undefined") {
    observer.current = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) changed = measure(e.target) || changed;
      if (changed) force((n) => n + 1);
    });
  }

  const rowRef = useCallback((el: HTMLDivElement | null) => {
    if (el) {
      measure(el);
      observer.current?.observe(el);
    }
  }, [measure]);

  /** Remembers which row is at the top of the view. */
  const remember = (el: HTMLElement) => {
    let i = 0;
    while (i < keys.length - 1 && offsets[i + 1]! <= el.scrollTop) i++;
    // Not the very first row: rows arrive before it but after a leading
    // header row (a day separator) that keeps its place.
    if (i === 0 && keys.length > 1) i = 1;
    anchor.current = keys.length ? { key: keys[i]!, delta: el.scrollTop - offsets[i]! } : null;
  };

  // Keep the view still when rows are added above or resized (the row at
  // the top stays where it was), at the bottom when it was there.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (atBottom.current) {
      if (total !== prevTotal.current) el.scrollTop = el.scrollHeight;
    } else if (anchor.current) {
      const i = keys.indexOf(anchor.current.key);
      if (i >= 0) {
        const want = offsets[i]! + anchor.current.delta;
        if (Math.abs(el.scrollTop - want) > 1) el.scrollTop = want;
      }
    }
    prevTotal.current = total;
    remember(el);
    // Still near the top after an update (a short page): ask for more.
    if (!atBottom.current && el.scrollTop < 600) p.onTop?.();
  });

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    atBottom.current = true;
    el.scrollTop = el.scrollHeight;
  }, [p.scrollToBottomToken]);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      setScroll({ top: el.scrollTop, height: el.clientHeight });
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      observer.current?.disconnect();
    };
  }, []);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK;
    if (bottom !== atBottom.current) {
      atBottom.current = bottom;
      p.onBottomChange?.(bottom);
    }
    setScroll({ top: el.scrollTop, height: el.clientHeight });
    remember(el);
    if (el.scrollTop < 600) p.onTop?.();
  };

  // At the very top a wheel or key press scrolls nothing, so no scroll
  // event comes: ask for older rows on the gesture itself.
  const onWheel = (ev: WheelEvent) => {
    if (ev.deltaY < 0 && (ref.current?.scrollTop ?? 1) <= 0) p.onTop?.();
  };

  return (
    <div ref={ref} class={p.class} onScroll={onScroll} onWheel={onWheel} role="log" aria-label={p.label} aria-live="polite" tabIndex={0}>
      {p.header}
      <div style={{ height: `${offsets[start]}px` }} aria-hidden="true" />
      {p.items.slice(start, end).map((item, i) => (
        <div key={keys[start + i]} data-key={keys[start + i]} ref={rowRef}>
          {p.render(item, start + i)}
        </div>
      ))}
      <div style={{ height: `${total - offsets[end]!}px` }} aria-hidden="true" />
    </div>
  );
}
