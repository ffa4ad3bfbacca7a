// Patron end-to-end test in a real headless Chromium (playwright-core, node:test).
//
// How to run, from the repository root:
//
//     cargo build -p patron -p patron-simulator && (cd tests/browser && npm ci && npm test)
//
// What it does, once in English (locale en-US) and once in Simplified Chinese (zh-CN),
// each against its own freshly started server and empty data directory:
//   first-run setup link -> agency admin -> new tenant "tea-house" -> a store ->
//   invite a cashier -> read the invitation from a real SMTP sink -> log out ->
//   accept the invitation -> cashier sees the tenant -> log out.
// Every page is screenshotted at 1280x800 and at 390x844 into tests/browser/screenshots/
// (<lang>-<width>-<nn>-<name>.png); the server's output goes to tests/browser/out/.
//
// Needs: chromium on PATH (or /usr/bin/chromium; the test FAILS without it), python3 with
// aiosmtpd (tests/requirements.txt) for tests/support/smtp_sink.py, and the patron binary.
//
// Environment:
//   PATRON_BIN    the server binary (default <repo>/target/debug/patron), run as `serve`
//   PATRON_SIMULATOR_BIN  the WeChat simulator (default <repo>/target/debug/patron-simulator)
//   DATABASE_URL  optional. A postgres:// URL is used with one fresh schema per language,
//                 created and dropped here with psql: the schema named by the URL's
//                 `options=-csearch_path=NAME` gets suffixes (NAME_en, NAME_zh), or
//                 patron_browser_<pid>_<lang> if the URL names none. A sqlite URL is
//                 ignored: each run uses the SQLite default in its own data directory.
//   PATRON_BROWSER_KEEP_TMP=1  keep the temporary data and mail directories.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { decodeGreyPng, y4mOf } from './fake_camera.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SCREENSHOTS = path.join(HERE, 'screenshots');
const OUT = path.join(HERE, 'out');
const SINK = path.join(REPO, 'tests', 'support', 'smtp_sink.py');

// axe-core, evaluated in each page through the DevTools protocol (the pages' strict CSP
// stays on: nothing is injected as a script tag).
const AXE_SOURCE = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
// Findings that fail the run: WCAG 2.1 A and AA rules at these impacts.
const AXE_FAILING = new Set(['critical', 'serious']);

/** axe-core's WCAG 2.1 AA findings on the page as it is now, as "rule: target" lines. */
async function axeFindings(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return result.violations
    .filter((v) => AXE_FAILING.has(v.impact))
    .flatMap((v) => v.nodes.map((n) => `${v.impact} ${v.id}: ${n.target.join(' ')} (${v.help})`));
}

// The Chinese walk: words in Latin letters a zh-CN page may show (names of products,
// protocols and formats, units, codes). Anything else in English on a zh-CN page is a
// string left untranslated. User data in these tests is Chinese, so it never trips this.
const ZH_ALLOWED = new Set([
  'Patron', 'WeChat', 'OpenID', 'UnionID', 'AppID', 'AppSecret', 'Token', 'EncodingAESKey',
  'API', 'CSV', 'QR', 'URL', 'HTTPS', 'HTTP', 'SVG', 'PNG', 'JSON', 'UTF', 'IANA', 'UTC',
  'Asia', 'Shanghai', 'English', 'YYYY', 'MM', 'DD', 'SMTP', 'Bearer', 'pat', 'https', 'http',
  'wx', 'openid', 'name', 'phone', 'email', 'birthday', 'remark', 'tags', 'attr', 'subscribed',
  'csv', 'svg', 'png', 'json', 'example', 'test', 'localhost', 'sk', 'ok', 'OK', 'ID',
  // WeChat Pay's key names (APIv2, APIv3) and the key file format.
  'APIv', 'PEM', 'pem',
  // WeChat's own terms, as its Chinese documentation writes them (a menu button's key,
  // a media ID), and a CSV column name.
  'key', 'Key', 'media', 'code',
  // This test's data: the account's slug and the tags of its followers file.
  'tea-house', 'VIP', 'New',
]);

/** Latin-letter words on the page that are not on the allowlist (zh-CN pages only). */
async function untranslated(page) {
  const text = await page.evaluate(() => {
    // Codes, inputs' values and user-entered text are data, not interface.
    const skip = 'code, pre, input, textarea, select, option, .bubble, .note, [data-user-text]';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const out = [];
    while (walker.nextNode()) {
      const n = walker.currentNode;
      const el = n.parentElement;
      if (!el || el.closest(skip) || el.closest('[hidden]') || el.closest('script, style')) continue;
      if (el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;
      out.push(n.textContent);
    }
    return out.join(' ');
  });
  // Data inside the interface's sentences: e-mail addresses, URLs, identifiers such as
  // config keys (base_url), and the {placeholders} a merchant types into replies.
  const prose = text
    .replace(/\S+@\S+/g, ' ')
    .replace(/https?:\/\/\S+/g, ' ')
    .replace(/\b\w+_\w+\b/g, ' ')
    .replace(/\{[a-z_]+\}/g, ' ');
  const words = prose.match(/[A-Za-z][A-Za-z'’-]{2,}/g) ?? [];
  return [...new Set(words.filter((w) => !ZH_ALLOWED.has(w)))];
}

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const SETUP_LINK = /http:\/\/[^\s"'<>]+\/setup\?token=[A-Za-z0-9_\-.~%]+/;
const INVITE_LINK = /http:\/\/[^\s"'<>]+\/invite\/[A-Za-z0-9_-]+/;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

const ADMIN_PASSWORD = 'correct horse battery staple 1';
const CASHIER_PASSWORD = 'tea leaves and steam 2';
const CASHIER_EMAIL = 'cashier@example.test';

const LANGS = [
  {
    lang: 'en',
    locale: 'en-US',
    signIn: 'Sign in',
    agency: 'Harbour Agency',
    admin: 'Ada Admin',
    tenant: 'Tea House',
    keyword: 'hours',
    keywordReply: 'We open 9:00-21:00.',
    follower: 'Li Lei',
    campaign: 'Ten yuan off',
    menuButton: 'Hours',
    stampCard: 'Tea card',
    pointsReason: 'Welcome gift',
    broadcast: 'Autumn tea tasting',
    broadcastText: 'Join us for a tasting of this autumn\'s teas.',
    broadcast2: 'New menu week',
    broadcast3: 'Tasting tonight',
    submitForApproval: 'Ask for approval',
    sent: 'Sent',
    offerTitle: 'Winter gift',
    offerKeyword: 'GIFT',
    offerText: 'Reply GIFT for ten yuan off your next pot of tea.',
    alsoEmail: 'also by email',
    consentSince: 'Consent recorded',
    scheduled: 'Scheduled',
    dayFull: 'has no free broadcast left',
    fullBadge: 'Full',
    store: 'Harbour Street Store',
    address: '1 Harbour Street, Springfield',
    cashier: 'Casey Cashier',
    writeOffReason: 'A test order at the counter',
  },
  {
    lang: 'zh',
    locale: 'zh-CN',
    signIn: '登录',
    agency: '海港代理',
    admin: '管理员老李',
    tenant: '茶馆',
    keyword: '营业时间',
    keywordReply: '每天 9:00-21:00 营业。',
    follower: '李雷',
    campaign: '立减十元',
    menuButton: '营业时间',
    stampCard: '茶饮集章卡',
    pointsReason: '新会员礼',
    broadcast: '秋季品茶会',
    broadcastText: '欢迎来品尝今年的秋茶。',
    broadcast2: '新品菜单周',
    broadcast3: '今晚品茶',
    submitForApproval: '提交审批',
    sent: '已发送',
    offerTitle: '冬季礼券',
    offerKeyword: '领券',
    offerText: '回复“领券”即可领取下一壶茶立减十元的优惠券。',
    alsoEmail: '同时发送邮件',
    consentSince: '已于',
    scheduled: '已安排',
    dayFull: '已没有剩余的群发次数',
    fullBadge: '已满',
    store: '南京东路店',
    address: '上海市黄浦区南京东路1号',
    cashier: '收银员小王',
    writeOffReason: '柜台测试订单',
  },
];

// Children still alive when the process exits for any reason get SIGKILL.
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

// ---------------------------------------------------------------------------------------
// Processes

function findChromium() {
  try {
    const found = execFileSync('which', ['chromium'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (found && fs.existsSync(found)) return found;
  } catch {
    /* not on PATH */
  }
  return fs.existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Spawns a child whose combined output is kept in memory and copied to `logFile`. */
function start(command, args, { env, logFile }) {
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const log = fs.createWriteStream(logFile);
  const proc = { child, stdout: '', stderr: '', exited: null, logFile };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    proc.stdout += s;
    log.write(s);
  });
  child.stderr.on('data', (s) => {
    proc.stderr += s;
    log.write(s);
  });
  child.on('error', (e) => {
    proc.exited = { error: e };
  });
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
    children.delete(child);
    log.end();
  });
  return proc;
}

function tail(proc, lines = 40) {
  const all = (proc.stdout + proc.stderr).replace(ANSI, '').split('\n');
  return all.slice(-lines).join('\n');
}

function exitedMessage(name, proc) {
  const how = proc.exited.error ? `failed to start: ${proc.exited.error.message}` : `exited (code ${proc.exited.code}, signal ${proc.exited.signal})`;
  return `${name} ${how}; last output:\n${tail(proc)}`;
}

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function stop(proc) {
  if (!proc || proc.exited) return;
  proc.child.kill('SIGTERM');
  const gone = once(proc.child, 'exit');
  const timer = sleep(5000, 'timeout', { ref: false });
  if ((await Promise.race([gone, timer])) === 'timeout' && !proc.exited) {
    proc.child.kill('SIGKILL');
    await gone;
  }
}

async function startSink(mailDir, logFile) {
  const sink = start('python3', [SINK, '--port', '0', '--dir', mailDir], { env: process.env, logFile });
  const port = await waitFor('SMTP_PORT= from the SMTP sink', 15_000, () => {
    if (sink.exited) throw new Error(exitedMessage('smtp_sink.py', sink));
    const m = /^SMTP_PORT=(\d+)$/m.exec(sink.stdout);
    return m && Number(m[1]);
  });
  return { sink, port };
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: one fresh schema per language, when DATABASE_URL is a postgres URL

function pgTarget(databaseUrl, lang) {
  if (!databaseUrl || !/^postgres(ql)?:\/\//.test(databaseUrl)) return null;
  const url = new URL(databaseUrl);
  const options = url.searchParams.get('options') ?? '';
  const m = /-c\s*search_path=([A-Za-z0-9_]+)/.exec(options);
  const base = m ? m[1] : `patron_browser_${process.pid}`;
  const schema = `${base}_${lang}`.toLowerCase();
  const rest = options.replace(/-c\s*search_path=\S+/, '').trim();
  url.searchParams.set('options', `${rest ? `${rest} ` : ''}-csearch_path=${schema}`);
  const admin = new URL(databaseUrl);
  admin.searchParams.delete('options');
  return { schema, url: url.toString(), adminUrl: admin.toString() };
}

function psql(adminUrl, sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', adminUrl, '-c', sql], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
}

// ---------------------------------------------------------------------------------------
// Mail

function readIndex(mailDir) {
  let text;
  try {
    text = fs.readFileSync(path.join(mailDir, 'index.jsonl'), 'utf8');
  } catch {
    return [];
  }
  // Only complete lines: the sink may be halfway through appending the last one.
  const lines = text.split('\n').slice(0, -1).filter((l) => l.trim());
  return lines.map((l) => JSON.parse(l));
}

// Python's email module decodes quoted-printable, base64, charsets and encoded-word headers.
const PARSE_EML = `
import email, email.policy, json, sys
with open(sys.argv[1], "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
parts = []
for part in msg.walk():
    if part.get_content_maintype() == "text" and not part.is_multipart():
        parts.append({"type": part.get_content_type(), "text": part.get_content()})
print(json.dumps({
    "subject": str(msg["subject"]) if msg["subject"] is not None else None,
    "from": str(msg["from"]) if msg["from"] is not None else None,
    "to": str(msg["to"]) if msg["to"] is not None else None,
    "parts": parts,
}))
`;

function parseEml(file) {
  return JSON.parse(execFileSync('python3', ['-c', PARSE_EML, file], { encoding: 'utf8' }));
}

async function waitForMail(mailDir, recipient) {
  const entry = await waitFor(`a mail to ${recipient} in ${mailDir}/index.jsonl`, 10_000, () =>
    readIndex(mailDir).find((e) => (e.rcpt_tos ?? []).some((r) => r.toLowerCase() === recipient)),
  );
  return { entry, ...parseEml(path.join(mailDir, entry.file)) };
}

// ---------------------------------------------------------------------------------------
// Pages

function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** The first form that contains all of `selectors`; fails clearly if there is none. */
async function formWith(page, ...selectors) {
  let forms = page.locator('form');
  for (const selector of selectors) forms = forms.filter({ has: page.locator(selector) });
  const form = forms.first();
  await form.waitFor({ state: 'attached' }).catch(() => {
    throw new Error(`no form containing ${selectors.join(' and ')} on ${page.url()}`);
  });
  return form;
}

/** Clicks `button` and waits for the page it leads to to load. */
async function clickAndWait(page, button, what) {
  const nav = page.waitForNavigation({ waitUntil: 'load', timeout: 30_000 });
  await button.click();
  let response;
  try {
    response = await nav;
  } catch (e) {
    const invalid = await page
      .$$eval(':invalid', (els) => els.map((el) => `${el.tagName.toLowerCase()}[name=${el.getAttribute('name')}]: ${el.validationMessage}`))
      .catch(() => []);
    throw new Error(`${what}: no navigation after the click on ${page.url()}${invalid.length ? `; invalid fields: ${invalid.join('; ')}` : ''} (${e.message})`);
  }
  if (response && response.status() >= 400) {
    const body = (await page.locator('body').innerText().catch(() => '')).slice(0, 600);
    throw new Error(`${what}: HTTP ${response.status()} at ${page.url()}:\n${body}`);
  }
  return response;
}

/** Clicks `button` and waits for the page it leads to, which must answer `status` (a
 * refusal such as 422 that shows the form again with the problem). */
async function clickExpecting(page, button, status, what) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: 30_000 }), button.click()]);
  assert.ok(response, `${what}: no response after the click on ${page.url()}`);
  assert.equal(response.status(), status, `${what}: expected HTTP ${status} at ${page.url()}`);
  return response;
}

/** A WeChat Pay trade bill (ALL, as downloaded: BOM, CRLF, backtick-prefixed values) of
 * 2026-11-30 with one payment of 12.00 under `order`. */
function tradeBill(order) {
  const header = '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
  const line = `\`2026-11-30 09:30:00,\`wx2421b1c4370ec43b,\`1900000109,\`0,\`,\`${order}T,\`${order},\`oUser,\`JSAPI,\`SUCCESS,\`CMC,\`CNY,\`12.00,\`0.00,\`0,\`0,\`0.00,\`0.00,\`,\`,\`Tea,\`,\`0.07200,\`0.60%,\`12.00,\`0.00,\``;
  const summary = '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额';
  return ['\ufeff' + header, line, summary, '`1,`12.00,`0.00,`0.00,`0.07200,`12.00,`0.00', ''].join('\r\n');
}

/** A local date "YYYY-MM-DD" moved by `days` (calendar arithmetic, no time zone involved). */
function addDays(date, days) {
  assert.match(date, /^\d{4}-\d{2}-\d{2}$/, `not a date: ${date}`);
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

async function goto(page, url, what) {
  const response = await page.goto(url, { waitUntil: 'load' });
  assert.ok(response, `${what}: no response for ${url}`);
  assert.ok(response.status() < 400, `${what}: HTTP ${response.status()} for ${url}`);
  return response;
}

async function bodyText(page) {
  return page.locator('body').innerText();
}

async function expectLoginPage(page, lang, what) {
  assert.equal(pathOf(page), '/login', `${what}: expected the login page, got ${page.url()}`);
  const text = await bodyText(page);
  assert.ok(text.includes(lang.signIn), `${what}: the ${lang.locale} login page should say "${lang.signIn}"; it shows:\n${text.slice(0, 400)}`);
}

async function logIn(page, email, password, what) {
  const form = await formWith(page, 'input[name=email]', 'input[name=password]');
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=password]').fill(password);
  await clickAndWait(page, form.locator('button[type=submit]').first(), what);
  assert.notEqual(pathOf(page), '/login', `${what}: still on the login page:\n${(await bodyText(page)).slice(0, 400)}`);
}

async function logOut(page, lang, what) {
  const button = page.locator('button#logout');
  await button.waitFor({ state: 'attached' });
  // On a phone-width layout the nav may be collapsed; this test logs out at desktop width.
  await clickAndWait(page, button, what);
  await expectLoginPage(page, lang, what);
}

function screenshotter(lang, t, axeFound, english) {
  let n = 0;
  return async (page, name) => {
    n += 1;
    const nn = String(n).padStart(2, '0');
    const file = (w) => path.join(SCREENSHOTS, `${lang.lang}-${w}-${nn}-${name}.png`);
    await page.screenshot({ path: file(DESKTOP.width), fullPage: true });
    if (lang.lang === 'zh') {
      const words = await untranslated(page);
      if (words.length) english.push(`${nn}-${name} (${new URL(page.url()).pathname}): ${words.join(', ')}`);
    }
    for (const f of await axeFindings(page)) axeFound.push(`${nn}-${name} at ${DESKTOP.width}px: ${f}`);
    await page.setViewportSize(PHONE);
    for (const f of await axeFindings(page)) axeFound.push(`${nn}-${name} at ${PHONE.width}px: ${f}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    if (overflow > PHONE.width + 1) {
      t.diagnostic(`${lang.lang} ${nn}-${name}: page is ${overflow}px wide at ${PHONE.width}px (horizontal scrolling)`);
    }
    await page.screenshot({ path: file(PHONE.width), fullPage: true });
    await page.setViewportSize(DESKTOP);
  };
}

// ---------------------------------------------------------------------------------------
// The flow, once per language

for (const lang of LANGS) {
  describe(`Patron in ${lang.locale}`, () => {
    const run = { tmp: null, sink: null, server: null, browser: null, pg: null };

    after(async () => {
      await run.browser?.close().catch(() => {});
      await stop(run.server);
      await stop(run.sink);
      await stop(run.simulator);
      if (run.pg) {
        try {
          psql(run.pg.adminUrl, `DROP SCHEMA IF EXISTS "${run.pg.schema}" CASCADE`);
        } catch (e) {
          console.error(`could not drop schema ${run.pg.schema}: ${e.stderr ?? e.message}`);
        }
      }
      if (run.tmp && !process.env.PATRON_BROWSER_KEEP_TMP) fs.rmSync(run.tmp, { recursive: true, force: true });
    });

    test(`setup, tenant, store, cashier invitation (${lang.locale})`, { timeout: 120_000 }, async (t) => {
      // --- Prerequisites: fail, never skip, when something is missing.
      const executablePath = findChromium();
      assert.ok(executablePath, 'chromium not found (neither `which chromium` nor /usr/bin/chromium); install it (apt-get install chromium)');
      const bin = path.resolve(REPO, process.env.PATRON_BIN || 'target/debug/patron');
      assert.ok(fs.existsSync(bin), `server binary ${bin} not found; run \`cargo build -p patron\` or set PATRON_BIN`);

      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      fs.mkdirSync(OUT, { recursive: true });
      for (const f of fs.readdirSync(SCREENSHOTS)) {
        if (f.startsWith(`${lang.lang}-`) && f.endsWith('.png')) fs.rmSync(path.join(SCREENSHOTS, f));
      }
      run.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `patron-browser-${lang.lang}-`));
      const dataDir = path.join(run.tmp, 'data');
      const mailDir = path.join(run.tmp, 'mail');
      fs.mkdirSync(dataDir);
      t.diagnostic(`temporary directory ${run.tmp}`);

      // --- SMTP sink, then the server.
      const { sink, port: smtpPort } = await startSink(mailDir, path.join(OUT, `${lang.lang}-smtp-sink.log`));
      run.sink = sink;

      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PATRON_') && k !== 'DATABASE_URL'));
      Object.assign(env, {
        PATRON_DATA_DIR: dataDir,
        PATRON_BIND: `127.0.0.1:${port}`,
        PATRON_BASE_URL: base,
        PATRON_MAIL_TRANSPORT: 'smtp',
        PATRON_SMTP_HOST: '127.0.0.1',
        PATRON_SMTP_PORT: String(smtpPort),
        PATRON_SMTP_TLS: 'none',
        PATRON_MAIL_FROM: 'patron@example.test',
      });
      const databaseUrl = process.env.DATABASE_URL;
      if (databaseUrl) {
        run.pg = pgTarget(databaseUrl, lang.lang);
        if (run.pg) {
          psql(run.pg.adminUrl, `DROP SCHEMA IF EXISTS "${run.pg.schema}" CASCADE; CREATE SCHEMA "${run.pg.schema}"`);
          env.DATABASE_URL = run.pg.url;
          t.diagnostic(`PostgreSQL schema ${run.pg.schema}`);
        } else {
          t.diagnostic('DATABASE_URL is not a postgres URL; using the SQLite default in the data directory');
        }
      }

      // --- The WeChat simulator standing in for api.weixin.qq.com: it pushes its
      // MASSSENDJOBFINISH reports to the account's webhook, signed with the account's Token.
      const simBin = path.resolve(REPO, process.env.PATRON_SIMULATOR_BIN || 'target/debug/patron-simulator');
      assert.ok(fs.existsSync(simBin), `simulator binary ${simBin} not found; run \`cargo build -p patron-simulator\``);
      const simPort = await freePort();
      const simulator = start(simBin, [`127.0.0.1:${simPort}`, '--followers', '3', '--appid', 'wx0123456789abcdef',
        '--secret', '0123456789abcdef0123456789abcdef', '--webhook', `${base}/wx/tea-house`,
        '--token', 'short123', '--mode', 'plaintext', '--job-finish-delay', '1'], { env: process.env, logFile: path.join(OUT, `${lang.lang}-simulator.log`) });
      run.simulator = simulator;
      const sim = await waitFor('the simulator to print its account', 15_000, () => {
        if (simulator.exited) throw new Error(exitedMessage('patron-simulator', simulator));
        const appid = /^appid\s+(\S+)$/m.exec(simulator.stdout);
        const secret = /^secret\s+(\S+)$/m.exec(simulator.stdout);
        const follower = /^follower\s+(\S+)$/m.exec(simulator.stdout);
        return appid && secret && follower && { base: `http://127.0.0.1:${simPort}`, appid: appid[1], secret: secret[1], follower: follower[1] };
      });
      env.PATRON_ALLOW_LOOPBACK_API_BASE = 'true';

      const server = start(bin, ['serve'], { env, logFile: path.join(OUT, `${lang.lang}-server.log`) });
      run.server = server;
      const setupUrl = await waitFor('the setup link in the server output', 60_000, () => {
        if (server.exited) throw new Error(exitedMessage('patron serve', server));
        // Looked for on stdout first, as documented, then on stderr (where logs may go).
        const m = SETUP_LINK.exec(server.stdout.replace(ANSI, '')) ?? SETUP_LINK.exec(server.stderr.replace(ANSI, ''));
        return m && m[0];
      });
      await waitFor(`${base}/readyz to answer 200`, 30_000, async () => {
        if (server.exited) throw new Error(exitedMessage('patron serve', server));
        try {
          const r = await fetch(`${base}/readyz`);
          return r.status === 200;
        } catch {
          return false;
        }
      });
      t.diagnostic(`server ready at ${base}`);

      // --- Browser.
      // The camera is a video written later in the flow (the coupon's QR); Chromium opens
      // the file when the till starts its camera.
      const cameraFile = path.join(run.tmp, 'camera.y4m');
      run.browser = await chromium.launch({
        executablePath,
        headless: true,
        args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${cameraFile}`],
        timeout: 60_000,
      });
      const context = await run.browser.newContext({ locale: lang.locale, viewport: DESKTOP, permissions: ['camera'] });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      page.setDefaultNavigationTimeout(30_000);
      const pageErrors = [];
      const serverErrors = [];
      page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
      // Addresses whose refusal (4xx, the form shown again with the problem) is what a step
      // checks: Chromium reports such an answer as a console error, which is expected there.
      const expectedRefusals = new Set();
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        if (expectedRefusals.has(m.location().url) && /^Failed to load resource: the server responded with a status of 4\d\d\b/.test(m.text())) return;
        pageErrors.push(`console error on ${page.url()}: ${m.text()}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
      });
      const axeFound = [];
      const english = [];
      const shot = screenshotter(lang, t, axeFound, english);

      try {
        // 1. First-run setup.
        await goto(page, setupUrl, 'setup page');
        await shot(page, 'setup');
        const setup = await formWith(page, 'input[name=agency_name]', 'input[name=password_confirm]');
        await setup.locator('input[name=agency_name]').fill(lang.agency);
        await setup.locator('input[name=name]').fill(lang.admin);
        await setup.locator('input[name=email]').fill('admin@example.test');
        await setup.locator('input[name=password]').fill(ADMIN_PASSWORD);
        await setup.locator('input[name=password_confirm]').fill(ADMIN_PASSWORD);
        await clickAndWait(page, setup.locator('button[type=submit]').first(), 'submitting setup');
        if (pathOf(page) === '/login') {
          await expectLoginPage(page, lang, 'after setup');
          await shot(page, 'login');
          await logIn(page, 'admin@example.test', ADMIN_PASSWORD, 'agency admin login');
        }

        // 2. The agency admin's nav, the tenant list and a new tenant.
        const tenantsLink = page.locator('nav a[href="/agency/tenants"]').first();
        await tenantsLink.waitFor({ state: 'visible' }).catch(() => {
          throw new Error(`no visible nav link a[href="/agency/tenants"] for the agency admin on ${page.url()}`);
        });
        if (pathOf(page) !== '/agency/tenants') {
          await shot(page, 'agency-home');
          await clickAndWait(page, tenantsLink, 'opening the tenant list');
        }
        assert.equal(pathOf(page), '/agency/tenants');
        await shot(page, 'agency-tenants');

        await goto(page, `${base}/agency/tenants/new`, 'new tenant form');
        await shot(page, 'tenant-new');
        const newTenant = await formWith(page, 'input[name=name]', 'input[name=slug]');
        await newTenant.locator('input[name=name]').fill(lang.tenant);
        await newTenant.locator('input[name=slug]').fill('tea-house');
        // A short Token (WeChat allows 3-32): accepted, and the settings page warns.
        await newTenant.locator('input[name=wx_token]').fill('short123');
        await clickAndWait(page, newTenant.locator('button[type=submit]').first(), 'creating the tenant');
        assert.match(page.url(), /\/t\/tea-house(\/|\?|#|$)/, `after creating the tenant, expected /t/tea-house, got ${page.url()}`);
        if (pathOf(page) !== '/t/tea-house') await goto(page, `${base}/t/tea-house`, 'tenant dashboard');
        await shot(page, 'tenant-dashboard');
        await goto(page, `${base}/t/tea-house/settings`, 'tenant settings');
        assert.ok(await page.locator('#token-advice [role=status]').isVisible(), 'a short Token is warned about');
        assert.match(await page.locator('#token-advice code').innerText(), /^[A-Za-z0-9]{32}$/, 'a strong Token is offered');
        await shot(page, 'tenant-settings');

        // 3. A store.
        await goto(page, `${base}/t/tea-house/stores`, 'stores page');
        await shot(page, 'stores');
        const storeForm = await formWith(page, 'input[name=name]', 'input[name=address]');
        await storeForm.locator('input[name=name]').fill(lang.store);
        await storeForm.locator('input[name=address]').fill(lang.address);
        await clickAndWait(page, storeForm.locator('button[type=submit]').first(), 'creating the store');
        assert.ok((await bodyText(page)).includes(lang.store), `the new store "${lang.store}" is not shown on ${page.url()}`);
        await shot(page, 'store-created');

        // 3b. An auto-reply rule, previewed; the (still empty) followers list.
        await goto(page, `${base}/t/tea-house/replies`, 'auto-replies page');
        const rule = await formWith(page, 'select[name=trigger_kind]', 'textarea[name=reply_body]');
        await rule.locator('select[name=trigger_kind]').selectOption('keyword_exact');
        await rule.locator('input[name=trigger_value]').fill(lang.keyword);
        await rule.locator('textarea[name=reply_body]').fill(lang.keywordReply);
        await clickAndWait(page, rule.locator('button[type=submit]').first(), 'creating a reply rule');
        await goto(page, `${base}/t/tea-house/replies?sample=${encodeURIComponent(lang.keyword)}`, 'reply preview');
        assert.ok((await page.locator('.timeline .out .bubble').first().innerText()).includes(lang.keywordReply),
          'the preview shows the rule\'s reply');
        await shot(page, 'replies');
        await goto(page, `${base}/t/tea-house/followers`, 'followers page');
        await shot(page, 'followers');

        // 3c. Import followers from a CSV: preview, confirm, progress until done.
        await goto(page, `${base}/t/tea-house/followers/import`, 'import page');
        const csv = `openid,name,phone,tags\no_browser_1,${lang.follower},+86 138 0000 0001,VIP\no_browser_2,${lang.follower} 2,,VIP;New\n`;
        const upload = await formWith(page, 'input[type=file]');
        await upload.locator('input[type=file]').setInputFiles({ name: 'followers.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
        await clickAndWait(page, upload.locator('button[type=submit]').first(), 'checking the CSV');
        await page.locator('#confirm-import').waitFor({ state: 'visible' });
        await shot(page, 'import-preview');
        await clickAndWait(page, page.locator('#confirm-import'), 'confirming the import');
        await waitFor('the import to finish', 30_000, async () => {
          await page.reload({ waitUntil: 'load' });
          return (await page.locator('#import-status.ok').count()) > 0;
        });
        await shot(page, 'import-done');
        await goto(page, `${base}/t/tea-house/followers?q=${encodeURIComponent(lang.follower)}`, 'followers search');
        assert.ok((await bodyText(page)).includes(`${lang.follower} 2`), 'imported followers are listed');
        await shot(page, 'followers-imported');

        // 3d. The custom menu (a draft) and the QR codes page.
        await goto(page, `${base}/t/tea-house/menu`, 'menu editor');
        const menu = await formWith(page, 'input[name=b0_name]');
        await menu.locator('input[name=b0_name]').fill(lang.menuButton);
        await menu.locator('select[name=b0_kind]').selectOption('click');
        await menu.locator('input[name=b0_value]').fill('MENU_HOURS');
        await clickAndWait(page, menu.locator('button[type=submit]').first(), 'saving the menu draft');
        assert.equal(await page.locator('input[name=b0_name]').inputValue(), lang.menuButton, 'the draft is kept');
        await shot(page, 'menu');
        await goto(page, `${base}/t/tea-house/qr`, 'QR codes page');
        await shot(page, 'qr-codes');

        // 3e. A coupon campaign, a coupon for an imported follower, its QR as the camera.
        await goto(page, `${base}/t/tea-house/campaigns`, 'campaigns page');
        await shot(page, 'campaigns');
        const camp = await formWith(page, 'input[name=name]', 'select[name=kind]');
        await camp.locator('input[name=name]').fill(lang.campaign);
        await camp.locator('select[name=kind]').selectOption('amount_off');
        await camp.locator('input[name=amount]').fill('10');
        await clickAndWait(page, camp.locator('button[type=submit]').first(), 'creating the campaign');
        await clickAndWait(page, page.locator('button[name=status][value=active]'), 'activating the campaign');
        await shot(page, 'campaign');
        await goto(page, `${base}/t/tea-house/followers?q=${encodeURIComponent(`${lang.follower} 2`)}`, 'finding the follower');
        await clickAndWait(page, page.locator('table a').first(), 'opening the follower');
        await clickAndWait(page, page.locator('#issue-coupon'), 'issuing a coupon');
        const couponLink = await page.locator('#follower-coupons a[href$=".svg"]').first().getAttribute('href');
        const couponCode = couponLink.split('/').pop().replace(/\.svg$/, '');
        await shot(page, 'follower-coupon');
        const png = await page.request.get(`${base}/t/tea-house/coupons/${couponCode}.png`);
        assert.equal(png.status(), 200, 'the coupon QR as PNG');
        fs.writeFileSync(cameraFile, y4mOf(decodeGreyPng(await png.body())));

        // 3f. Points and stamps: the program, a stamp card rewarding with the campaign,
        // points and a stamp by hand, the follower's own page, and the coupon lookup.
        const followerUrl = page.url();
        await goto(page, `${base}/t/tea-house/loyalty`, 'points and stamps page');
        await clickAndWait(page, page.locator('#program-form button[type=submit]'), 'saving the points program');
        await page.locator('#card-form input[name=name]').fill(lang.stampCard);
        await page.locator('#card-form input[name=stamps_required]').fill('3');
        await clickAndWait(page, page.locator('#card-form button[type=submit]'), 'creating the stamp card');
        assert.ok((await page.locator('#cards').innerText()).includes(lang.stampCard), 'the stamp card is listed');
        await shot(page, 'loyalty');
        await goto(page, followerUrl, 'the follower again');
        const pts = await formWith(page, 'input[name=points]', 'input[name=reason]');
        await pts.locator('input[name=points]').fill('30');
        await pts.locator('input[name=reason]').fill(lang.pointsReason);
        await clickAndWait(page, pts.locator('button[type=submit]'), 'posting points');
        assert.equal((await page.locator('#points-balance').innerText()).trim(), '30', 'the balance shows the points');
        await clickAndWait(page, page.locator('#follower-stamps button[type=submit]').first(), 'giving a stamp');
        assert.ok((await page.locator('#follower-stamps').innerText()).includes('1 / 3'), 'one stamp of three');
        await shot(page, 'follower-points');
        // Consent to email, recorded on the profile form (when, and by whom it was given).
        const profile = await formWith(page, 'input[name=email]', 'input[name=email_consent]');
        await profile.locator('input[name=email]').fill('li.lei@example.test');
        await profile.locator('input[name=email_consent]').check();
        await clickAndWait(page, profile.locator('button[type=submit]'), 'recording consent to email');
        assert.ok(await page.locator('#email-consent').isChecked(), 'the consent is kept');
        assert.ok((await page.locator('#hint-consent').innerText()).includes(lang.consentSince), 'the profile says since when');
        await shot(page, 'follower-consent');
        const memberHref = await page.locator('#member-preview').getAttribute('href');
        await goto(page, `${base}${memberHref}`, "the follower's own page");
        assert.match(pathOf(page), /^\/m\/tea-house\//, 'the preview lands on the signed follower page');
        assert.equal((await page.locator('#member-points').innerText()).trim(), '30');
        assert.equal(await page.locator('.stamp-slots .slot.on').count(), 1, 'one stamp slot filled');
        const memberPage = page.url();
        await page.setViewportSize(PHONE);
        await page.locator('#member-card summary').click();
        await page.screenshot({ path: path.join(SCREENSHOTS, `${lang.lang}-member-phone-open.png`), fullPage: true });
        await page.setViewportSize(DESKTOP);
        await shot(page, 'member');
        await goto(page, `${base}/t/tea-house/coupons?code=${encodeURIComponent(couponCode.toLowerCase())}`, 'coupon lookup');
        assert.ok((await page.locator('#lookup-coupon').innerText()).includes(lang.campaign), 'the lookup finds the coupon, typed in lower case');
        await shot(page, 'coupon-lookup');

        // 3g. Broadcasts (a subscription account: one a day, in the account's time zone).
        // A text broadcast to all followers scheduled three days out at 20:00; a second one
        // for the same day is refused as full and offered the next day, which it takes.
        await goto(page, `${base}/t/tea-house/broadcasts`, 'broadcasts page');
        assert.ok(await page.locator('#quota').isVisible(), 'the quota is shown');
        assert.ok((await page.locator('#calendar tbody tr').count()) > 3, 'the calendar shows the coming days');
        await shot(page, 'broadcasts');
        /** Composes a text broadcast to all followers from the list page; returns its page's URL. */
        const composeBroadcast = async (title, screenshot) => {
          await goto(page, `${base}/t/tea-house/broadcasts`, 'broadcasts page');
          await clickAndWait(page, page.locator('main a[href$="/broadcasts/new"]').first(), 'opening the broadcast form');
          const form = page.locator('#broadcast-form');
          await form.locator('input[name=title]').fill(title);
          await form.locator('input[name=kind][value=text]').check();
          await form.locator('textarea[name=text]').fill(lang.broadcastText);
          await form.locator('input[name=audience][value=all]').check();
          if (screenshot) await shot(page, screenshot);
          await clickAndWait(page, form.locator('button[type=submit]'), `saving the broadcast "${title}"`);
          assert.match(pathOf(page), /^\/t\/tea-house\/broadcasts\/\d+$/, `after saving, expected the broadcast's page, got ${page.url()}`);
          assert.equal((await page.locator('main h1').innerText()).trim(), title, 'the broadcast page is titled with its title');
          return page.url();
        };
        /** Fills the schedule form with a local date and time and submits it. */
        const fillSchedule = async (date, time) => {
          const form = page.locator('#schedule-form');
          await form.locator('input[name=when][value=at]').check();
          await form.locator('input[name=date]').fill(date);
          await form.locator('input[name=time]').fill(time);
          return form.locator('button[type=submit]');
        };
        await composeBroadcast(lang.broadcast, 'broadcast-new');
        // The form proposes tomorrow (local to the account); three days out is two after it.
        const proposed = await page.locator('#schedule-form input[name=date]').inputValue();
        const day = addDays(proposed, 2);
        const nextDay = addDays(day, 1);
        await clickAndWait(page, await fillSchedule(day, '20:00'), 'scheduling the broadcast');
        assert.equal((await page.locator('#broadcast-status').innerText()).trim(), lang.scheduled, 'the broadcast is scheduled');
        assert.ok((await page.locator('.card p', { has: page.locator('#broadcast-status') }).innerText()).includes(`${day} 20:00`),
          `the broadcast goes out on ${day} at 20:00`);
        await shot(page, 'broadcast-scheduled');
        await composeBroadcast(lang.broadcast2, null);
        expectedRefusals.add(new URL(await page.locator('#schedule-form').getAttribute('action'), page.url()).href);
        await clickExpecting(page, await fillSchedule(day, '20:00'), 422, 'scheduling a second broadcast on a full day');
        const alert = await page.locator('main [role=alert]').first().innerText();
        assert.ok(alert.includes(day) && alert.includes(lang.dayFull), `the alert should say ${day} is full:\n${alert}`);
        assert.ok(await page.locator('#offer').isVisible(), 'the next free slot is offered');
        assert.equal(await page.locator('#offer input[name=date]').inputValue(), nextDay, 'the offer is the next day');
        assert.equal(await page.locator('#offer input[name=time]').inputValue(), '20:00', 'the offer keeps the time of day');
        assert.notEqual((await page.locator('#broadcast-status').innerText()).trim(), lang.scheduled, 'a refused broadcast is not scheduled');
        await shot(page, 'broadcast-full');
        await clickAndWait(page, page.locator('#offer button[type=submit]'), 'taking the offered slot');
        assert.equal((await page.locator('#broadcast-status').innerText()).trim(), lang.scheduled, 'the second broadcast is scheduled');
        assert.ok((await page.locator('.card p', { has: page.locator('#broadcast-status') }).innerText()).includes(`${nextDay} 20:00`),
          `the second broadcast goes out on ${nextDay} at 20:00`);
        assert.equal(await page.locator('#offer').count(), 0, 'no offer once scheduled');
        await goto(page, `${base}/t/tea-house/broadcasts`, 'broadcasts page again');
        const calendarRows = await page.locator('#calendar tbody tr').evaluateAll((rows) =>
          rows.map((r) => [...r.cells].map((c) => c.innerText.trim())));
        const rowOf = (d) => calendarRows.find((cells) => cells[0].startsWith(d));
        assert.ok(rowOf(day), `the calendar has a row for ${day}`);
        assert.ok(rowOf(day)[3].includes(lang.broadcast) && !rowOf(day)[3].includes(lang.broadcast2), `${day} plans "${lang.broadcast}" only: ${rowOf(day)}`);
        assert.equal(rowOf(day)[2], lang.fullBadge, `${day} is full`);
        assert.ok(rowOf(nextDay), `the calendar has a row for ${nextDay}`);
        assert.ok(rowOf(nextDay)[3].includes(lang.broadcast2) && !rowOf(nextDay)[3].includes(lang.broadcast), `${nextDay} plans "${lang.broadcast2}" only: ${rowOf(nextDay)}`);
        assert.equal(rowOf(nextDay)[2], lang.fullBadge, `${nextDay} is full`);
        assert.ok((await page.locator('#broadcast-list').innerText()).includes(lang.broadcast2), 'both broadcasts are listed');
        await shot(page, 'broadcast-calendar');

        // A coupon offer, also by email: a text without the reply keyword is refused beside
        // the field, then saved; its page says what it sends and that it also goes by email.
        await goto(page, `${base}/t/tea-house/broadcasts/new`, 'the broadcast form again');
        const offer = page.locator('#broadcast-form');
        await offer.locator('input[name=title]').fill(lang.offerTitle);
        await offer.locator('input[name=kind][value=offer]').check();
        assert.ok(await offer.locator('select[name=campaign_id]').isVisible(), 'the campaign choice appears for an offer');
        await offer.locator('select[name=campaign_id]').selectOption({ label: lang.campaign });
        await offer.locator('textarea[name=text]').fill(lang.broadcastText);
        await offer.locator('input[name=keyword]').fill(lang.offerKeyword);
        await offer.locator('input[name=email]').check();
        expectedRefusals.add(new URL(await offer.getAttribute('action'), page.url()).href);
        await clickExpecting(page, offer.locator('button[type=submit]'), 422, 'an offer whose text does not name its keyword');
        assert.ok(await page.locator('#err-text').isVisible(), 'the problem is shown beside the text');
        assert.equal(await page.locator('#broadcast-form textarea[name=text]').getAttribute('aria-invalid'), 'true');
        await shot(page, 'broadcast-offer-refused');
        await page.locator('#broadcast-form textarea[name=text]').fill(lang.offerText);
        await clickAndWait(page, page.locator('#broadcast-form button[type=submit]'), 'saving the coupon offer');
        assert.match(pathOf(page), /^\/t\/tea-house\/broadcasts\/\d+$/, 'the offer is saved');
        const facts = await page.locator('dl.facts').innerText();
        assert.ok(facts.includes(lang.offerKeyword) && facts.includes(lang.alsoEmail), `the page says the keyword and the email channel:\n${facts}`);
        await shot(page, 'broadcast-offer');

        // WeChat Pay: the merchant account (keys write-only), then the payments list.
        await goto(page, `${base}/t/tea-house/settings/pay`, 'WeChat Pay settings');
        const pay = page.locator('#pay-form');
        await pay.locator('input[name=mch_id]').fill('1900000109');
        await pay.locator('input[name=apiv2_key]').fill('192006250b4c09247ec02edce69f6a2d');
        await clickAndWait(page, pay.locator('button[type=submit]'), 'saving the WeChat Pay settings');
        assert.equal(await page.locator('#pay-form input[name=apiv2_key]').inputValue(), '', 'the key is not shown again');
        assert.ok((await page.locator('#pay-urls').innerText()).includes('/pay/tea-house/v2'), 'the notification URLs are shown');
        await shot(page, 'pay-settings');
        await goto(page, `${base}/t/tea-house/payments`, 'payments page');
        await shot(page, 'payments');
        await goto(page, `${base}/t/tea-house/reconciliation`, 'reconciliation page');
        assert.ok(await page.locator('#bill-upload input[type=file]').isVisible(), 'a bill can be uploaded');
        // A day's trade bill uploaded: its job reconciles it while the page follows its
        // progress; the order nobody recorded here is an exception, written off with a
        // reason.
        await page.locator('#bill-upload input[type=file]').setInputFiles({
          name: '2026-11-30.csv',
          mimeType: 'text/csv',
          buffer: Buffer.from(tradeBill('RECON-' + lang.lang), 'utf8'),
        });
        await clickAndWait(page, page.locator('#bill-upload button[type=submit]'), 'uploading a trade bill');
        assert.ok(await page.locator('#bill-files').isVisible(), 'the bill is listed with its status');
        await page.locator('#bill-files .badge.ok').first().waitFor({ timeout: 30_000 });
        const exception = page.locator('#exceptions tr', { hasText: 'RECON-' + lang.lang });
        await exception.waitFor();
        await shot(page, 'reconciliation-run');
        await exception.locator('select[name=how]').selectOption('write_off');
        await exception.locator('input[name=reason]').fill(lang.writeOffReason);
        await clickAndWait(page, exception.locator('button[type=submit]'), 'writing an exception off');
        assert.equal(await page.locator('#exceptions tr', { hasText: 'RECON-' + lang.lang }).count(), 0, 'the exception is resolved');
        await shot(page, 'reconciliation');

        // A broadcast through the simulator: the account connected to it, approval turned
        // on by the agency, a preview to a follower, approval recorded, sent now, and
        // WeChat's report (the simulator's MASSSENDJOBFINISH push) counted on its page.
        await goto(page, `${base}/t/tea-house/settings`, 'tenant settings again');
        const wx = await formWith(page, 'input[name=wx_appid]', 'input[name=wx_api_base]');
        await wx.locator('input[name=wx_appid]').fill(sim.appid);
        await wx.locator('input[name=wx_app_secret]').fill(sim.secret);
        await wx.locator('select[name=wx_message_mode]').selectOption('plain');
        await wx.locator('input[name=wx_api_base]').fill(sim.base);
        await clickAndWait(page, wx.locator('button[type=submit]').first(), 'connecting the account to the simulator');
        await goto(page, `${base}/t/tea-house/broadcasts`, 'broadcasts page for approval');
        await page.locator('#quota-form input[name=approval]').check();
        await clickAndWait(page, page.locator('#quota-form button[type=submit]'), 'turning approval on');
        await composeBroadcast(lang.broadcast3, null);
        const preview = await formWith(page, 'input[name=openid]');
        await preview.locator('input[name=openid]').fill(sim.follower);
        await clickAndWait(page, preview.locator('button[type=submit]'), 'sending a preview');
        assert.ok((await page.locator('.flash').first().innerText()).includes(sim.follower), 'the preview went to the follower');
        await clickAndWait(page, page.locator('button', { hasText: lang.submitForApproval }), 'asking for approval');
        await clickAndWait(page, page.locator('#approve'), 'approving');
        assert.ok((await page.locator('#approved-by').innerText()).includes(lang.admin), 'who approved is recorded');
        await page.locator('#schedule-form input[name=when][value=now]').check();
        await clickAndWait(page, page.locator('#schedule-form button[type=submit]'), 'sending now');
        const sentPage = page.url();
        await waitFor('the report of the simulator to be counted', 60_000, async () => {
          await goto(page, sentPage, 'the broadcast being sent');
          const sent = await page.locator('#stat-sent').innerText().catch(() => '0');
          return sent.trim() === '3';
        });
        assert.equal((await page.locator('#broadcast-status').innerText()).trim(), lang.sent, 'the broadcast is sent');
        await shot(page, 'broadcast-sent');

        // The background work page lists the import that ran, in the visitor's language.
        await goto(page, `${base}/t/tea-house/jobs`, 'jobs page');
        assert.ok((await page.locator('main table').innerText()).includes(lang.lang === 'zh' ? '导入粉丝' : 'Followers import'), 'the import is listed');
        await shot(page, 'jobs');

        // The agency's operations page: the scheduler's tasks and each account's work.
        await goto(page, `${base}/agency/operations`, 'operations page');
        assert.ok(await page.locator('#tasks tbody tr').count() >= 3, 'the scheduled tasks are listed');
        await shot(page, 'operations');

        // 4. Invite a cashier for that store.
        await goto(page, `${base}/t/tea-house/users`, 'users page');
        await shot(page, 'users');
        const invite = await formWith(page, 'input[name=email]', 'select[name=role]');
        await invite.locator('input[name=email]').fill(CASHIER_EMAIL);
        await invite.locator('select[name=role]').selectOption('cashier');
        await invite.locator('input[name=store_ids]').first().check();
        await clickAndWait(page, invite.locator('button[type=submit]').first(), 'inviting the cashier');
        await page.locator('.flash').first().waitFor({ state: 'visible' }).catch(() => {
          throw new Error(`no visible .flash after inviting the cashier on ${page.url()}`);
        });
        await shot(page, 'user-invited');

        // 5. The invitation mail, through real SMTP.
        const mail = await waitForMail(mailDir, CASHIER_EMAIL);
        t.diagnostic(`invitation: ${mail.entry.file}, subject ${JSON.stringify(mail.subject)}`);
        assert.ok(mail.subject && mail.subject.trim(), `the invitation mail ${mail.entry.file} has no Subject`);
        assert.ok((mail.from ?? '').includes('patron@example.test'), `From should be patron@example.test, is ${mail.from}`);
        const plainFirst = [...mail.parts].sort((a, b) => (b.type === 'text/plain') - (a.type === 'text/plain'));
        const found = plainFirst.map((p) => INVITE_LINK.exec(p.text)).find(Boolean);
        assert.ok(found, `no /invite/ link in the invitation mail ${mail.entry.file}:\n${mail.parts.map((p) => p.text).join('\n---\n').slice(0, 800)}`);
        const inviteUrl = found[0];
        assert.ok(inviteUrl.startsWith(`${base}/invite/`), `the invitation link ${inviteUrl} should start with PATRON_BASE_URL ${base}`);

        // 6. Log out.
        await logOut(page, lang, 'agency admin logout');
        await shot(page, 'logged-out');

        // 7. Accept the invitation and arrive as the cashier.
        await goto(page, inviteUrl, 'invitation page');
        await shot(page, 'invite-accept');
        const accept = await formWith(page, 'input[name=password]', 'input[name=password_confirm]');
        await accept.locator('input[name=name]').fill(lang.cashier);
        await accept.locator('input[name=password]').fill(CASHIER_PASSWORD);
        await accept.locator('input[name=password_confirm]').fill(CASHIER_PASSWORD);
        await clickAndWait(page, accept.locator('button[type=submit]').first(), 'accepting the invitation');
        if (pathOf(page) === '/login') {
          await expectLoginPage(page, lang, 'after accepting the invitation');
          await shot(page, 'cashier-login');
          await logIn(page, CASHIER_EMAIL, CASHIER_PASSWORD, 'cashier login');
        }
        const landing = await bodyText(page);
        assert.ok(landing.includes(lang.tenant), `the cashier's page ${page.url()} should show the tenant "${lang.tenant}":\n${landing.slice(0, 400)}`);
        await shot(page, 'cashier-landing');

        // 7b. The till: the camera reads the coupon's QR; one tap redeems; a second scan
        // says it was already redeemed.
        await goto(page, `${base}/t/tea-house/cashier`, 'the till');
        await shot(page, 'till');
        await page.locator('#start-camera').click();
        await page.locator('#redeem-form').waitFor({ state: 'visible', timeout: 30_000 });
        assert.ok((await bodyText(page)).includes(lang.campaign), 'the till shows the campaign');
        await shot(page, 'till-scanned');
        await clickAndWait(page, page.locator('#redeem'), 'redeeming');
        await page.locator('#till-done').waitFor({ state: 'visible' });
        await shot(page, 'till-redeemed');
        await goto(page, `${base}/t/tea-house/cashier`, 'the till again');
        await page.locator('#start-camera').click();
        await page.locator('#till-already').waitFor({ state: 'visible', timeout: 30_000 });
        assert.ok((await page.locator('#till-already').innerText()).includes(lang.store), 'already redeemed at the store');
        await shot(page, 'till-already');

        // 7c. The follower's member card at the till: the camera reads it, one tap stamps.
        const cardPng = await page.request.get(`${memberPage}/member-card.png`);
        assert.equal(cardPng.status(), 200, 'the member card QR as PNG');
        fs.writeFileSync(cameraFile, y4mOf(decodeGreyPng(await cardPng.body())));
        await goto(page, `${base}/t/tea-house/cashier`, 'the till for a member card');
        await page.locator('#start-camera').click();
        await page.locator('#till-member').waitFor({ state: 'visible', timeout: 30_000 });
        assert.ok((await page.locator('#till-member').innerText()).includes('30'), 'the till shows the points');
        await shot(page, 'till-member');
        await clickAndWait(page, page.locator('#till-member .stamp-button').first(), 'stamping at the till');
        await page.locator('.flash').first().waitFor({ state: 'visible' });
        await shot(page, 'till-stamped');
        assert.ok(couponCode.length > 10);

        // 8. Log out.
        await logOut(page, lang, 'cashier logout');
        await shot(page, 'cashier-logged-out');

        // 9. The figures: rolled now (the minute task may not have run yet), then the
        // merchant's dashboard and the agency's portfolio, by day and by week.
        execFileSync(bin, ['stats', 'rebuild'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
        await logIn(page, 'admin@example.test', ADMIN_PASSWORD, 'agency admin login for the figures');
        await goto(page, `${base}/t/tea-house`, 'the dashboard');
        await page.locator('#section-audience').waitFor({ state: 'visible' });
        assert.ok(await page.locator('#figures svg[role=img]').count() >= 2, 'the dashboard draws the charts of what happened (coupons, hours)');
        const redeemedTile = await page.locator('.tiles li').filter({ hasText: lang.lang === 'zh' ? '核销' : 'Redeemed' }).first().innerText();
        assert.match(redeemedTile, /\b1\b/, `the redemption at the till is counted: ${redeemedTile}`);
        await shot(page, 'dashboard');
        await page.locator('#figure-campaigns').scrollIntoViewIfNeeded();
        const step = page.locator('form.period-picker select[name=step]');
        await step.selectOption('week');
        await clickAndWait(page, page.locator('form.period-picker button[type=submit]'), 'grouping by week');
        assert.match(page.url(), /step=week/);
        await page.locator('#figure-loyalty details summary').click();
        await shot(page, 'dashboard-weeks');
        const csvUrl = await page.locator('#figure-loyalty a.csv').getAttribute('href');
        const csvResp = await page.request.get(`${base}${csvUrl}`);
        assert.equal(csvResp.status(), 200, 'the coupons CSV');
        assert.match(await csvResp.text(), /^[^\n]+,[^\n]+\n\d{4}-\d{2}-\d{2}/, 'the CSV has a header and dated rows');
        await goto(page, `${base}/agency/tenants`, 'the portfolio');
        await page.locator('#portfolio tr[data-tenant="tea-house"]').waitFor({ state: 'visible' });
        await shot(page, 'portfolio');
        await clickAndWait(page, page.locator('#portfolio thead a').nth(3), 'sorting the portfolio');
        assert.match(page.url(), /sort=messages/);
        await logOut(page, lang, 'agency admin logout after the figures');

        assert.deepEqual(pageErrors, [], 'JavaScript or console errors in the pages');
        assert.deepEqual(axeFound, [], 'axe-core: critical or serious WCAG 2.1 AA findings');
        assert.deepEqual(english, [], 'English left in the zh-CN pages (words outside ZH_ALLOWED)');
        assert.deepEqual(serverErrors, [], 'server errors (5xx) while browsing');
      } catch (e) {
        await page.setViewportSize(DESKTOP).catch(() => {});
        await page.screenshot({ path: path.join(SCREENSHOTS, `${lang.lang}-failure.png`), fullPage: true }).catch(() => {});
        t.diagnostic(`failed on ${page.url()}; see screenshots/${lang.lang}-failure.png and out/${lang.lang}-server.log`);
        t.diagnostic(`server output (tail):\n${tail(server)}`);
        throw e;
      }
    });
  });
}
