// The review console in a real browser: headless Chromium (Debian's, at CHROMIUM or
// /usr/bin/chromium) driven by playwright-core. Run by tests/review_browser.rs, which starts
// Kafka, PostgreSQL, `vigil run` and `vigil review serve` and passes:
//   CONSOLE_URL      the console, e.g. http://127.0.0.1:18480
//   SCREENSHOTS      a directory for the screenshots (test artifacts)
// Accounts: rita (reviewer), lena (lead), aldo (auditor); password "<name>-password!".
// Exits non-zero with a message on the first failed expectation.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.CONSOLE_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

function expect(condition, message) {
  if (!condition) {
    throw new Error(`expectation failed: ${message}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function login(context, name) {
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', `${name}-password!`);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // No sandbox as root; no background traffic (this network is closed, and it only slows
  // start-up).
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  // A reviewer: sign in, claim an item, read why it was flagged, reveal its image, decide.
  const reviewer = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await login(reviewer, 'rita');
  expect(page.url() === `${base}/queue`, `signed in to ${page.url()}`);
  expect(await page.locator('table.items tbody tr').count() > 0, 'the queue lists items');
  await shot(page, '1-queue');

  // Claim until an item with a highlighted phrase and an image comes up; escalate others.
  let found = false;
  for (let i = 0; i < 20 && !found; i++) {
    await page.goto(`${base}/queue`);
    await Promise.all([page.waitForNavigation(), page.click('#claim-next')]);
    expect(page.url().includes('/flags/'), `claim led to ${page.url()}`);
    found = (await page.locator('blockquote#text mark').count()) > 0 &&
      (await page.locator('img.blurred').count()) > 0;
    if (!found) {
      await page.check('input[value=escalate]');
      await Promise.all([page.waitForNavigation(), page.click('#decide-queue')]);
    }
  }
  expect(found, 'an item with a text match and an image');
  const flagUrl = page.url();
  const marked = await page.locator('blockquote#text mark').first().innerText();
  expect(marked === 'keep this a secret', `highlighted "${marked}"`);
  expect(await page.locator('table.matches tbody tr').count() >= 2, 'both matches explained');
  const blurred = page.locator('img.blurred').first();
  expect(await blurred.evaluate((img) => img.complete && img.naturalWidth > 0), 'the blurred preview loads');
  expect((await blurred.getAttribute('src')).endsWith('/blurred'), 'the preview is the blurred rendition');
  await shot(page, '2-flag-blurred');

  await Promise.all([page.waitForNavigation(), page.click('button.reveal')]);
  const revealed = page.locator('img.revealed').first();
  expect(await revealed.count() === 1, 'the image is revealed after the click');
  expect(await revealed.evaluate((img) => img.complete && img.naturalWidth > 0), 'the original loads');
  await shot(page, '3-flag-revealed');

  // Wellness defaults: greyscale, at most 320 px on the longer side, counted; one click
  // blurs it again, and seeing it again is a new reveal.
  const look = await revealed.evaluate((img) => {
    const box = img.getBoundingClientRect();
    return { filter: getComputedStyle(img).filter, side: Math.max(box.width, box.height) };
  });
  expect(look.filter.includes('grayscale(1)'), `revealed image filter: ${look.filter}`);
  expect(look.side <= 320, `revealed image drawn ${look.side} px on its longer side`);
  expect(await page.locator('#reveals-today').innerText() === '1', 'one reveal counted today');
  await Promise.all([page.waitForNavigation(), page.click('button.reblur')]);
  expect(await page.locator('img.revealed').count() === 0, 'blurred again after one click');
  await Promise.all([page.waitForNavigation(), page.click('button.reveal')]);
  expect(await page.locator('img.revealed').count() === 1, 'revealed again');
  expect(await page.locator('#reveals-today').innerText() === '2', 'a second reveal counted');

  await page.check('input[value=confirm]');
  await page.fill('textarea[name=note]', 'matches the list entry');
  // The default button records the decision and opens the next item.
  await Promise.all([page.waitForNavigation(), page.click('#decide-next')]);
  const next = page.url();
  expect(next !== flagUrl && (/\/flags\/[0-9a-f]+\?notice=decided$/.test(next) ||
    next === `${base}/queue?notice=decided`), `after deciding: ${next}`);
  expect((await page.locator('p.notice').innerText()).includes('Decision recorded'), 'notice shown');
  await shot(page, '4-decided');

  // Back in the browser to the flag just decided: its state, not a server error.
  const back = await page.goBack();
  expect(back.status() === 200, `back to the decided flag: ${back.status()}`);
  const state = await page.locator('main').innerText();
  expect(state.includes('This item was decided: confirm by'), `decided flag shows ${state}`);
  expect(await page.locator('blockquote#text').count() === 0, 'no content of a decided flag');

  // The reviewer cannot open the audit export.
  const exportResponse = await page.goto(`${base}/audit/access-log.csv`);
  expect(exportResponse.status() === 403, `reviewer export: ${exportResponse.status()}`);

  // A lead finds the confirmed flag held for a year and adds a hold of their own.
  const leadContext = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const lead = await login(leadContext, 'lena');
  await lead.goto(flagUrl);
  const preserved = await lead.locator('#preserved').innerText();
  expect(preserved.startsWith('Preserved until'), `confirmed flag: ${preserved}`);
  const kinds = await lead.locator('table.holds tbody td:nth-child(3)').allInnerTexts();
  expect(kinds.length === 1 && kinds[0] === 'confirmed', `holds after confirming: ${kinds}`);
  await lead.fill('form.place-hold input[name=reason]', 'law enforcement preservation request');
  await lead.fill('form.place-hold input[name=reference]', 'LE-2026-0042');
  await lead.fill('form.place-hold input[name=days]', '90');
  await Promise.all([lead.waitForNavigation(), lead.click('form.place-hold button[type=submit]')]);
  expect(lead.url() === `${flagUrl}?notice=held`, `after holding: ${lead.url()}`);
  expect(await lead.locator('table.holds tbody tr').count() === 2, 'two holds listed');
  await shot(lead, '6-preservation');

  // An auditor sees figures and the access log, never content.
  const auditor = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const audit = await login(auditor, 'aldo');
  expect(audit.url() === `${base}/audit`, `auditor landed on ${audit.url()}`);
  expect(await audit.locator('table.precision tbody tr').count() > 0, 'precision rows');
  const actions = await audit.locator('table.access tbody td:nth-child(4)').allInnerTexts();
  for (const action of ['view_flag', 'reveal_image', 'decide']) {
    expect(actions.includes(action), `access log shows ${action}`);
  }
  await shot(audit, '5-audit');
  await audit.goto(`${base}/holds`);
  const holdRefs = await audit.locator('table.holds tbody td:nth-child(6)').allInnerTexts();
  expect(holdRefs.includes('LE-2026-0042'), `holds page references: ${holdRefs}`);
  expect(await audit.locator('blockquote, img').count() === 0, 'no content on the holds page');
  await shot(audit, '7-holds');
  const content = await audit.goto(flagUrl);
  expect(content.status() === 403, `auditor opening a flag: ${content.status()}`);
  const image = await audit.goto(`${flagUrl}/images/a1/blurred`);
  expect(image.status() === 403, `auditor opening an image: ${image.status()}`);
  console.log('browser checks passed');
} finally {
  await browser.close();
}
