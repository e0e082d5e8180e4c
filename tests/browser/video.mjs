// A flagged video in a real browser: headless Chromium driven by playwright-core. Run by
// tests/review_video.rs, which stores a flag on a DM with a video and passes:
//   CONSOLE_URL      the console
//   FLAG_ID          the flag
//   SCREENSHOTS      a directory for the screenshots
// Accounts: rita (reviewer), aldo (auditor); password "<name>-password!".
// Exits non-zero with a message on the first failed expectation.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.CONSOLE_URL;
const flagId = process.env.FLAG_ID;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

function expect(condition, message) {
  if (!condition) {
    throw new Error(`expectation failed: ${message}`);
  }
}

async function login(context, name) {
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', `${name}-password!`);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
}

const loaded = (img) => img.complete && img.naturalWidth > 0;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const reviewer = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await login(reviewer, 'rita');
  await Promise.all([page.waitForNavigation(), page.click('#claim-next')]);
  expect(page.url() === `${base}/flags/${flagId}`, `claimed ${page.url()}`);

  // The timeline: the video's length, one matched stretch, one matched frame.
  const timeline = page.locator('svg.timeline').first();
  expect(await timeline.isVisible(), 'the timeline is shown');
  expect(await timeline.locator('rect.segment').count() === 1, 'the matched stretch is drawn');
  expect(await timeline.locator('rect.matched-frame').count() === 1, 'the matched frame is drawn');
  const caption = await page.locator('figure.timeline figcaption').first().innerText();
  expect(caption.includes('0:03.000') && caption.includes('0:00.500–0:02.000'), `timeline caption: ${caption}`);

  // The contact sheet: four frames, blurred, each labelled with its time and what matched.
  const blurred = page.locator('img.blurred-frame');
  expect(await blurred.count() === 4, `${await blurred.count()} blurred frames`);
  for (let i = 0; i < 4; i++) {
    expect(await blurred.nth(i).evaluate(loaded), `blurred frame ${i} loads`);
    expect((await blurred.nth(i).getAttribute('src')).endsWith('/blurred'), 'a blurred rendition');
  }
  const labels = await page.locator('figure.frame figcaption strong').allInnerTexts();
  expect(labels.join(' ') === '0:00.500 0:01.233 0:02.000 0:02.500' ||
    labels.join(' ') === '0:00.500 0:01.267 0:02.000 0:02.500', `frame times ${labels}`);
  const last = await page.locator('figure.frame').last().innerText();
  expect(last.includes('img-7: this frame'), `what matched at 0:02.500: ${last}`);
  expect((await page.locator('main').innerText()).includes('video_decode_failed'), 'v2 says why it has no sheet');
  await page.locator('section.video').first().screenshot({ path: join(shots, '6-video-blurred.png') });

  // Reveal the frame at 0:02.500 only.
  await Promise.all([
    page.waitForNavigation(),
    page.locator('#frame-2500 button.reveal-frame').click(),
  ]);
  const revealed = page.locator('img.revealed-frame');
  expect(await revealed.count() === 1, 'one frame revealed');
  expect(await revealed.evaluate(loaded), 'the revealed frame loads');
  expect((await revealed.getAttribute('src')).endsWith('/frames/2500'), 'the frame asked for');
  expect(await page.locator('img.blurred-frame').count() === 3, 'the others stay blurred');
  await page.locator('section.video').first().screenshot({ path: join(shots, '7-video-frame-revealed.png') });

  // An auditor finds the reveal in the access log, and cannot see the frame.
  const auditor = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const audit = await login(auditor, 'aldo');
  const rows = await audit.locator('table.access tbody tr').allInnerTexts();
  expect(rows.some((r) => r.includes('reveal_frame') && r.includes(flagId) && r.includes('frame_ms=2500')),
    `the access log shows the reveal: ${rows.join('\n')}`);
  const frame = await audit.goto(`${base}/flags/${flagId}/videos/v1/frames/2500/blurred`);
  expect(frame.status() === 403, `auditor opening a frame: ${frame.status()}`);
  console.log('video browser checks passed');
} finally {
  await browser.close();
}
