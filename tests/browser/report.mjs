// A lead reports a case to the CyberTipline in a real browser: headless Chromium (Debian's,
// at CHROMIUM or /usr/bin/chromium) driven by playwright-core. Run by tests/review_browser.rs,
// which starts PostgreSQL, `vigil review serve` with [review.cybertipline] pointing at the
// local CyberTipline test server, stores a case of confirmed flags, and passes:
//   CONSOLE_URL      the console, e.g. http://127.0.0.1:18480
//   SCREENSHOTS      a directory for the screenshots (test artifacts)
//   SENDER           the account whose case is reported
// Account: lena (lead), password "lena-password!". Prints NCMEC's report id as the last line.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.CONSOLE_URL;
const shots = process.env.SCREENSHOTS;
const sender = process.env.SENDER;
mkdirSync(shots, { recursive: true });

function expect(condition, message) {
  if (!condition) {
    throw new Error(`expectation failed: ${message}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', 'lena');
  await page.fill('input[name=password]', 'lena-password!');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);

  // From the case list to the account's case, and on to its report.
  await page.goto(`${base}/cases`);
  await Promise.all([page.waitForNavigation(), page.click(`table.cases a:has-text("${sender}")`)]);
  await Promise.all([page.waitForNavigation(), page.click('#report-link')]);
  expect(page.url().includes('/case/report?sender='), `report page: ${page.url()}`);

  await page.selectOption('select[name=incident_type]',
    'Child Pornography (possession, manufacture, and distribution)');
  await page.fill('textarea[name=summary]',
    'Two images sent in direct messages matched a hash list and were confirmed by a reviewer.');
  await Promise.all([page.waitForNavigation(), page.click('form.prepare-report button[type=submit]')]);
  expect(page.url().endsWith('notice=report-prepared'), `after preparing: ${page.url()}`);
  expect((await page.locator('#report-status').innerText()) === 'draft', 'a draft');
  expect(await page.locator('table.report-files tbody tr').count() === 2, 'two files listed');
  await page.click('details summary');
  const xml = await page.locator('pre.report-xml').innerText();
  expect(xml.includes('<espIdentifier>'), 'the XML is shown before submission');
  await page.screenshot({ path: join(shots, '10-report-review.png'), fullPage: true });

  await Promise.all([page.waitForNavigation(), page.click('form.submit-report button[type=submit]')]);
  expect(page.url().endsWith('notice=report-submitted'), `after submitting: ${page.url()}`);
  const status = await page.locator('#report-status').innerText();
  expect(status === 'finished', `status ${status}`);
  const reportId = await page.locator('#ncmec-report-id').innerText();
  const fileIds = await page.locator('table.report-files code.file-id').allInnerTexts();
  expect(fileIds.length === 2, `file ids shown: ${fileIds}`);
  expect(await page.locator('form.submit-report').count() === 0, 'no second submission offered');
  await page.screenshot({ path: join(shots, '11-report-submitted.png'), fullPage: true });
  console.log(reportId);
} finally {
  await browser.close();
}
