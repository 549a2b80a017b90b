import { defineConfig } from "@playwright/test";

// End-to-end tests in Debian's Chromium (installed by .ci/run; never a
// downloaded browser) against a real ferry-server that each worker starts
// (e2e/fixtures.ts), all inside a loopback-only network namespace
// (`npm run e2e` = scripts/netns.mjs + playwright test).
export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  reporter: "list",
  // Each worker runs its own server and browser; the machine has 2 cores.
  workers: 2,
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // Without the background-networking switches Chromium stalls on
      // connections it is refused (this machine reaches no network).
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // A fake microphone and camera (a tone, a test pattern), granted
        // without a prompt: voice notes (and calls) are recorded for real.
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        // Calls: the suite runs in a network namespace with only loopback
        // (scripts/netns.mjs), so ICE must be allowed to pair loopback
        // candidates; and a call's remote audio plays without a gesture.
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
      ],
    },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});
