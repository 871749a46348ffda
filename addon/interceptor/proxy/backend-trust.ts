// Which backend certificates the interceptor trusts on its TLS listener's upstream connections:
// the system roots plus every certificate the interceptor loaded itself, and, like Go, a loaded
// certificate is trusted as it is even when it is a leaf rather than a CA. The forwarder and the
// Upgrade tunnel both dial through this, so a WebSocket trusts exactly what a request trusts.
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, rootCertificates, type TLSSocket } from 'node:tls';

export interface BackendTrustOptions {
  /** Certificates the interceptor loaded (KEDA_HTTP_PROXY_TLS_CERT_PATH and the cert store). */
  ca: (string | Buffer)[];
  /** KEDA_HTTP_PROXY_TLS_SKIP_VERIFY. */
  skipVerify: boolean;
}

export class BackendTrust {
  /** For the handshake: OpenSSL checks chains against these; check() has the last word. */
  readonly ca: (string | Buffer)[];
  readonly #skipVerify: boolean;
  readonly #loaded: Set<string>;

  constructor(opts: BackendTrustOptions | undefined) {
    this.ca = [...rootCertificates, ...(opts?.ca ?? [])];
    this.#skipVerify = opts?.skipVerify ?? false;
    this.#loaded = new Set((opts?.ca ?? []).map((pem) => new X509Certificate(pem).fingerprint256));
  }

  /**
   * Why the backend behind a finished handshake (made with rejectUnauthorized: false) is not
   * trusted as `serverName`, or undefined when it is.
   */
  check(socket: TLSSocket, serverName: string): Error | undefined {
    if (this.#skipVerify) return undefined;
    const peer = socket.getPeerCertificate();
    const chainOk = socket.authorized || this.#loaded.has(peer.fingerprint256);
    const nameErr = checkServerIdentity(serverName, peer);
    if (chainOk && nameErr === undefined) return undefined;
    const reason = chainOk ? (nameErr?.message ?? '') : String(socket.authorizationError);
    return new Error(`backend certificate for ${serverName} is not trusted: ${reason}`);
  }
}
