// Call sounds made with WebAudio (no audio files in the bundle): the ring
// of an incoming call (two tones, twice, then a pause) and the softer
// ringback the caller hears while the other side rings.

export type Tone = "ring" | "ringback";

let ctx: AudioContext | null = null;
let timer: ReturnType<typeof setInterval> | null = null;

/** Starts a tone pattern (stopping any other); quiet when audio is unavailable or not allowed yet. */
export function playTone(tone: Tone): void {
  stopTone();
  try {
    ctx ??= new AudioContext();
    void ctx.resume().catch(() => undefined);
  } catch {
    return;
  }
  const c = ctx;
  const burst = () => {
    if (tone === "ring") {
      beep(c, [440, 480], 0, 0.4, 0.12);
      beep(c, [440, 480], 0.6, 0.4, 0.12);
    } else {
      beep(c, [440, 480], 0, 1.2, 0.05);
    }
  };
  burst();
  timer = setInterval(burst, tone === "ring" ? 2_500 : 4_000);
}

export function stopTone(): void {
  if (timer) clearInterval(timer);
  timer = null;
}

function beep(c: AudioContext, freqs: number[], at: number, length: number, volume: number): void {
  const start = c.currentTime + at;
  const gain = c.createGain();
  gain.gain.setValueAtTime(0, start);
  gain.gain.linearRampToValueAtTime(volume, start + 0.02);
  gain.gain.setValueAtTime(volume, start + length - 0.05);
  gain.gain.linearRampToValueAtTime(0, start + length);
  gain.connect(c.destination);
  for (const f of freqs) {
    const o = c.createOscillator();
    o.frequency.value = f;
    o.connect(gain);
    o.start(start);
    o.stop(start + length);
  }
}
