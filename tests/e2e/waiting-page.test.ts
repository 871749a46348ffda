// The waiting page in a real browser, on the embedded default (a real control plane, the process
// kubelet, real KEDA, the manager and the add-on it installs). An app sits at zero replicas behind
// an InterceptorRoute whose placeholder answers browsers by content negotiation. Headless Chromium
// (Debian's package, driven by playwright-core) opens http://demo.local:<port>/: the name resolves
// to 127.0.0.1 by Chromium's own host resolver rules, and the port is forwarded to the
// interceptor's proxy Service, so the browser navigates to the app's host as a user's would.
// The first screen must be the waiting page; it must reload by itself (the test navigates once);
// the app's own page must follow once KEDA has scaled the Deployment up. Both screens are saved
// as PNGs in `screenshotDir` (README.md shows committed ones).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type net from 'node:net';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser, type Browser } from '../../hack/browser.ts';
import {
  addonCondition,
  forwardPort,
  replicas,
  sampleApp,
  startEmbedded,
  waitFor,
  waitForRoute,
  type Embedded,
} from '../../hack/embedded.ts';

const dir = resolve(import.meta.dirname, '../../.cache/e2e-browser-cluster');
/**
 * Where the two screenshots go: under .cache by default, so a test run leaves the tree clean.
 * README.md shows copies committed from a real run (WAITING_PAGE_SCREENSHOTS=docs/screenshots).
 */
const screenshotDir = resolve(
  process.env.WAITING_PAGE_SCREENSHOTS ?? resolve(import.meta.dirname, '../../.cache/screenshots'),
);
const kedaNs = 'kyma-system';
const addonNs = kedaNs;
const appNs = 'waiting';
const app = 'demo';
const host = 'demo.local';
/** Long enough that the waiting page is on screen for a while, short enough for a quick test. */
const startupDelayMs = 2500;

let e: Embedded | undefined;
let browser: Browser | undefined;
let forward: net.Server | undefined;

function log(line: string): void {
  process.stderr.write(`[e2e-browser] ${line}\n`);
}

function cluster(): Embedded {
  if (!e) throw new Error('the embedded cluster did not start');
  return e;
}

/** `kubectl annotate keda default ...`, as a user types it (as in scenarios.test.ts). */
async function annotate(pair: string): Promise<void> {
  await cluster().kubectl(['annotate', 'keda', 'default', '-n', kedaNs, '--overwrite', pair]);
}

/** The app at zero, an InterceptorRoute with a negotiated placeholder, and the user's ScaledObject. */
function manifests(): string {
  const base = sampleApp({ namespace: appNs, name: app, host, startupDelayMs })
    .split('\n---\n')
    .filter((d) => !d.includes('"HTTPScaledObject"'));
  const route = {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: app, namespace: appNs },
    spec: {
      target: { service: app, port: 8080 },
      rules: [{ hosts: [host] }],
      coldStart: { placeholder: { contentNegotiation: true, response: {} } },
      // A placeholder is answered at once, so concurrency is back to 0 before any poll sees it;
      // every answer is counted in the request rate, which keeps KEDA active while the page reloads.
      scalingMetric: {
        concurrency: { targetValue: 100 },
        requestRate: { targetValue: 10, window: '1m', granularity: '1s' },
      },
    },
  };
  const scaledObject = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: app, namespace: appNs },
    spec: {
      scaleTargetRef: { name: app },
      minReplicaCount: 0,
      maxReplicaCount: 2,
      cooldownPeriod: 60,
      pollingInterval: 5,
      triggers: [
        {
          type: 'external-push',
          metadata: {
            interceptorRoute: app,
            scalerAddress: `keda-add-ons-http-external-scaler.${addonNs}:9090`,
          },
        },
      ],
    },
  };
  return [...base, JSON.stringify(route), JSON.stringify(scaledObject)].join('\n---\n');
}

/** Main-frame document responses, in order: one per navigation, whoever started it. */
interface Navigation {
  status: number;
  at: number;
  headers: Record<string, string>;
}

async function diagnostics(): Promise<void> {
  if (!e) return;
  for (const args of [
    ['get', 'deployment,pods,scaledobject,hpa', '-n', appNs, '-o', 'wide'],
    ['logs', '-n', addonNs, 'deployment/keda-add-ons-http-interceptor', '--tail=30'],
    ['logs', '-n', addonNs, 'deployment/keda-add-ons-http-external-scaler', '--tail=30'],
  ]) {
    log(`kubectl ${args.join(' ')}:\n${await e.kubectl(args).catch((err: unknown) => String(err))}`);
  }
}

describe('the waiting page in a real browser', { concurrency: false }, () => {
  let port = 0;
  let page: Page;
  const navigations: Navigation[] = [];

  before(async () => {
    const t = performance.now();
    e = await startEmbedded({ dir, progress: (m) => log(m) });
    log(`control plane, kubelet, KEDA and manager up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await annotate('keda.kyma-project.io/addon-enabled=true');
    await waitFor(
      `AddonInstalled=True in ${addonNs}`,
      async () => ((await addonCondition(cluster())).status === 'True' ? true : undefined),
      300_000,
    );
    await cluster().kubectl(['apply', '-f', '-'], manifests());
    await waitForRoute(cluster(), addonNs, `${appNs}/${app}`);
    await waitFor(
      'KEDA to take the ScaledObject (Ready=True)',
      async () =>
        (await cluster().kubectl([
          'get',
          'scaledobject',
          app,
          '-n',
          appNs,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === 'True'
          ? true
          : undefined,
      300_000,
    );

    forward = forwardPort(0, () => {
      const ip = e?.kubelet.resolve(`keda-add-ons-http-interceptor-proxy.${addonNs}`);
      return ip ? { host: ip, port: 8080 } : undefined;
    });
    await new Promise<void>((r) => (forward?.listening ? r() : forward?.once('listening', r)));
    port = (forward.address() as net.AddressInfo).port;
    browser = await launchBrowser({ args: [`--host-resolver-rules=MAP ${host} 127.0.0.1`] });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(120_000);
    await page.setViewportSize({ width: 960, height: 400 });
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
        navigations.push({ status: r.status(), at: performance.now(), headers: r.headers() });
      }
    });
    mkdirSync(screenshotDir, { recursive: true });
    log(`screenshots go to ${screenshotDir}`);
  });

  after(async () => {
    await browser?.close().catch((err: unknown) => log(`closing the browser: ${String(err)}`));
    await new Promise<void>((r) => (forward ? forward.close(() => r()) : r()));
    await e?.stop({ purge: true });
  });

  test('1. the first screen for an app at zero is the waiting page, with a refresh', async () => {
    assert.equal((await replicas(cluster(), appNs, app)).spec, 0, 'the app starts at zero replicas');
    const url = `http://${host}:${port}/`;
    log(`opening ${url}`);
    const first = await page.goto(url, { waitUntil: 'load' });
    const file = join(screenshotDir, 'waiting-page.png');
    await page.screenshot({ path: file });
    log(`saved ${file}`);
    assert.ok(first, 'the navigation had a response');
    assert.equal(navigations.length, 1, 'the screenshot shows the first page, before any reload');
    assert.equal(first.status(), 503, 'the interceptor answers a browser with 503 while the app starts');
    assert.match(first.headers()['content-type'] ?? '', /^text\/html/);
    assert.match(first.headers()['refresh'] ?? '', /^\d+$/, 'a Refresh header');
    const body = await first.text();
    assert.match(body, /<title>Starting…<\/title>/);
    assert.match(body, /waiting\/demo is waking up/);
    assert.match(body, /<meta http-equiv="refresh" content="\d+">/, 'a meta refresh');
    assert.equal(await page.locator('h1').first().textContent(), 'Starting…');
  });

  test('2. the page reloads by itself, without the test navigating again', async () => {
    const first = navigations[0];
    assert.ok(first, 'the first navigation was seen');
    const seconds = Number(first.headers['refresh']);
    await waitFor(
      'the page to reload itself',
      async () => (navigations.length >= 2 ? true : undefined),
      60_000,
    );
    const second = navigations[1];
    assert.ok(second);
    const gap = (second.at - first.at) / 1000;
    log(`first reload ${gap.toFixed(1)} s after the first page (Refresh: ${seconds})`);
    assert.ok(gap >= seconds - 0.5, `the reload waited for the refresh interval (${gap.toFixed(1)} s)`);
  });

  test('3. once KEDA has scaled the app up, the browser shows the app page', async () => {
    try {
      await waitFor(
        "the app's own page (200) in the browser",
        async () => (navigations.some((n) => n.status === 200) ? true : undefined),
        240_000,
      );
      await page.getByRole('heading', { name: 'Hello from the echo app' }).waitFor();
      const file = join(screenshotDir, 'app-page.png');
      await page.screenshot({ path: file });
      log(`saved ${file}`);
      const statuses = navigations.map((n) => n.status);
      const last = navigations.at(-1)?.at ?? 0;
      log(
        `navigations: ${statuses.join(' ')}; the app's page came ${((last - (navigations[0]?.at ?? 0)) / 1000).toFixed(1)} s after the waiting page`,
      );
      assert.deepEqual(
        statuses,
        [...statuses.slice(0, -1).map(() => 503), 200],
        'waiting pages, then the app',
      );
      assert.match(await page.title(), /^echo: demo-/, "the app's own title (its pod's name)");
      assert.match((await page.locator('body').textContent()) ?? '', new RegExp(`host${host}:${port}`));
      const r = await replicas(cluster(), appNs, app);
      assert.ok(r.spec >= 1 && r.ready >= 1, `the Deployment runs (now ${JSON.stringify(r)})`);
      const events = await cluster().kubectl([
        'get',
        'events',
        '-n',
        appNs,
        '--field-selector',
        `involvedObject.kind=ScaledObject,involvedObject.name=${app}`,
        '-o',
        'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
      ]);
      log(`ScaledObject events:\n${events.trim()}`);
      assert.match(
        events,
        /KEDAScaleTargetActivated: .*from 0 to [1-9]/,
        'KEDA scaled the Deployment from 0',
      );
    } catch (err) {
      await diagnostics();
      throw err;
    }
  });
});
