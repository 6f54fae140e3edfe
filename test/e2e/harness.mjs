// Test harness: runs a real `scfd serve` (the binary named by SCFD_BIN) on
// free loopback ports with its own data directory, and hands out clients of
// the official SCF SDK pointed at it. With SCFD_E2E_ENDPOINT (host:port of
// an API) it starts nothing and points the clients at that server instead:
// scfd running elsewhere, say replicas behind a Kubernetes Service.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tencentcloud from "tencentcloud-sdk-nodejs-scf";

const ScfClient = tencentcloud.scf.v20180416.Client;

export const SECRET_ID = "AKIDscfde2etestkey000000000000000";
export const SECRET_KEY = "scfde2esecretkey0000000000000000";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class Server {
  constructor(opts = {}) {
    this.bin = process.env.SCFD_BIN || path.resolve("../../bin/scfd");
    this.dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), "scfd-e2e-"));
    this.extraEnv = opts.env || {};
    this.output = "";
    this.remote = process.env.SCFD_E2E_ENDPOINT;
  }

  async start() {
    if (this.remote) {
      const [host, port] = this.remote.split(/:(?=\d+$)/);
      await waitFor(() => canConnect(Number(port), host), { timeout: 60000, what: `scfd at ${this.remote}` });
      return this;
    }
    if (!this.apiPort) {
      this.apiPort = await freePort();
      this.gatewayPort = await freePort();
    }
    const env = {
      ...process.env,
      SCFD_API_ADDR: `127.0.0.1:${this.apiPort}`,
      SCFD_GATEWAY_ADDR: `127.0.0.1:${this.gatewayPort}`,
      SCFD_REGISTRY_ADDR: "off", // servers run side by side; the default port would clash
      SCFD_DATA_DIR: this.dataDir,
      SCFD_SECRET_ID: SECRET_ID,
      SCFD_SECRET_KEY: SECRET_KEY,
      ...this.extraEnv,
    };
    this.proc = spawn(this.bin, ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    this.proc.stdout.on("data", (d) => (this.output += d));
    this.proc.stderr.on("data", (d) => (this.output += d));
    const deadline = Date.now() + 20000;
    for (;;) {
      if (this.proc.exitCode !== null) {
        throw new Error(`scfd serve exited with ${this.proc.exitCode}:\n${this.output}`);
      }
      if (await canConnect(this.apiPort)) return this;
      if (Date.now() > deadline) throw new Error(`scfd serve did not listen in 20 s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // stop sends SIGTERM (or the given signal) and waits for the exit.
  async stop(signal = "SIGTERM") {
    if (this.remote) return;
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    return this.exited;
  }

  endpoint() {
    if (this.remote) return this.remote;
    return `127.0.0.1:${this.apiPort}`;
  }

  client({ secretId = SECRET_ID, secretKey = SECRET_KEY, token, endpoint = this.endpoint() } = {}) {
    const httpProfile = { endpoint, protocol: `${this.scheme()}://`, reqTimeout: 60 };
    if (this.tls()) httpProfile.agent = this.agent();
    return new ScfClient({ credential: { secretId, secretKey, token }, region: "ap-guangzhou", profile: { httpProfile } });
  }

  // tls reports whether the server speaks HTTPS with a self-signed
  // certificate (SCFD_TLS=self-signed).
  tls() {
    return this.extraEnv.SCFD_TLS === "self-signed";
  }

  scheme() {
    return this.tls() ? "https" : "http";
  }

  // agent is an HTTPS agent trusting the server's self-signed authority,
  // which it keeps in DATA/tls/ca.pem.
  agent() {
    this.httpsAgent ||= new https.Agent({ ca: fs.readFileSync(path.join(this.dataDir, "tls", "ca.pem")), keepAlive: true });
    return this.httpsAgent;
  }

  cleanup() {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function canConnect(port, host = "127.0.0.1") {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

// expectCode runs fn and asserts that it fails with the SCF error code.
export async function expectCode(fn, code) {
  try {
    await fn();
  } catch (e) {
    if (e.code !== code) {
      throw new Error(`want error ${code}, got ${e.code}: ${e.message}`);
    }
    return e;
  }
  throw new Error(`want error ${code}, got success`);
}

// waitFor polls fn until it returns a truthy value or the deadline passes.
export async function waitFor(fn, { timeout = 30000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// image is the function image the Go side pushed to the test registry.
export function image(name = "echo") {
  const ref = process.env[`SCFD_E2E_IMAGE_${name.toUpperCase()}`];
  if (!ref) throw new Error(`SCFD_E2E_IMAGE_${name.toUpperCase()} is not set: run these tests through 'go test ./test/e2e'`);
  return ref;
}

// capture calls fn with an SDK client whose requests reach server
// through a proxy that keeps them, and returns fn's answer and the last
// request as the SDK sent it: its headers (the signature's included)
// and body. The SDK speaks plain HTTP to the proxy, which speaks the
// server's protocol; the proxy connects from 127.0.0.1.
export async function capture(server, fn) {
  let captured;
  const [host, port] = server.endpoint().split(/:(?=\d+$)/);
  const proxy = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      captured = { headers: { ...req.headers }, body };
      const opts = { host, port, method: req.method, path: req.url, headers: req.headers };
      const out = server.tls() ? https.request({ ...opts, agent: server.agent() }, relay) : http.request(opts, relay);
      function relay(up) {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      }
      out.on("error", (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      out.end(body);
    });
  });
  const proxyPort = await freePort();
  await new Promise((r) => proxy.listen(proxyPort, "127.0.0.1", r));
  try {
    const client = new ScfClient({
      credential: { secretId: SECRET_ID, secretKey: SECRET_KEY },
      region: "ap-guangzhou",
      profile: { httpProfile: { endpoint: `127.0.0.1:${proxyPort}`, protocol: "http://" } },
    });
    const answer = await fn(client);
    return { answer, ...captured };
  } finally {
    proxy.close();
  }
}

// replay sends a captured request's headers and body to server again,
// as action, from localAddress (by default 127.0.0.2: another client
// than the SDK's), and returns the answer's Response object.
export function replay(server, captured, action, { localAddress = "127.0.0.2" } = {}) {
  const [host, port] = server.endpoint().split(/:(?=\d+$)/);
  const opts = { host, port, method: "POST", path: "/", headers: { ...captured.headers, "x-tc-action": action }, localAddress };
  return new Promise((resolve, reject) => {
    const onAnswer = (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body).Response);
        } catch (e) {
          reject(new Error(`${res.statusCode} ${body}: ${e.message}`));
        }
      });
    };
    const req = server.tls() ? https.request({ ...opts, ca: server.agent().options.ca }, onAnswer) : http.request(opts, onAnswer);
    req.on("error", reject);
    req.end(captured.body);
  });
}
