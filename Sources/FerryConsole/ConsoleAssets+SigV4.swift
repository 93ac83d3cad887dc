extension ConsoleAssets {
    /// `/console/sigv4.js`: SHA-256, HMAC-SHA256 and AWS Signature Version 4 in plain JavaScript, so the page signs
    /// its requests with the key the operator logged in with (the secret never leaves the browser). WebCrypto's
    /// digests exist only in secure contexts (https, or a page from localhost), and a console on a plain-http
    /// node of a LAN must sign too.
    package static let sigV4Script = #"""
        "use strict";
        window.Ferry = window.Ferry || {};
        (function (Ferry) {
          const K = new Uint32Array([
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
          ]);
          const ror = (x, n) => (x >>> n) | (x << (32 - n));

          // FIPS 180-4 SHA-256 of a Uint8Array.
          function sha256(bytes) {
            const h = new Uint32Array([
              0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
            ]);
            const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
            padded.set(bytes);
            padded[bytes.length] = 0x80;
            const view = new DataView(padded.buffer);
            const bits = bytes.length * 8;
            view.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
            view.setUint32(padded.length - 4, bits >>> 0);
            const w = new Uint32Array(64);
            for (let offset = 0; offset < padded.length; offset += 64) {
              for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
              for (let i = 16; i < 64; i++) {
                const s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >>> 3);
                const s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >>> 10);
                w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
              }
              let [a, b, c, d, e, f, g, hh] = h;
              for (let i = 0; i < 64; i++) {
                const t1 = (hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
                const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
                hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
              }
              const sums = [a, b, c, d, e, f, g, hh];
              for (let i = 0; i < 8; i++) h[i] = (h[i] + sums[i]) >>> 0;
            }
            const out = new Uint8Array(32);
            const outView = new DataView(out.buffer);
            for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
            return out;
          }

          // RFC 2104 HMAC-SHA256.
          function hmac(key, message) {
            const block = new Uint8Array(64);
            block.set(key.length > 64 ? sha256(key) : key);
            const inner = new Uint8Array(64 + message.length);
            const outer = new Uint8Array(64 + 32);
            for (let i = 0; i < 64; i++) {
              inner[i] = block[i] ^ 0x36;
              outer[i] = block[i] ^ 0x5c;
            }
            inner.set(message, 64);
            outer.set(sha256(inner), 64);
            return sha256(outer);
          }

          const utf8 = (text) => new TextEncoder().encode(text);
          const hex = (bytes) => Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");

          // RFC 3986: unreserved characters as they are, every other byte as %XX.
          function uriEncode(text) {
            return Array.from(utf8(text), (byte) => {
              const c = String.fromCharCode(byte);
              return /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
            }).join("");
          }

          // The headers that sign `method path` with `body` for service sqs: SigV4 as botocore computes it
          // (services other than S3 sign the path's segments encoded once more). `headers` are signed and sent.
          function sign(credentials, method, path, body, headers, now) {
            const amzDate = (now || new Date()).toISOString().replace(/[:-]|\.\d{3}/g, "");
            const date = amzDate.slice(0, 8);
            const all = Object.assign({ host: location.host, "x-amz-date": amzDate }, headers);
            const values = {};
            for (const [name, value] of Object.entries(all)) {
              values[name.toLowerCase()] = String(value).trim().replace(/\s+/g, " ");
            }
            const names = Object.keys(values).sort();
            const canonical = [
              method,
              path.split("/").map(uriEncode).join("/") || "/",
              "",
              names.map((name) => name + ":" + values[name] + "\n").join(""),
              names.join(";"),
              hex(sha256(utf8(body))),
            ].join("\n");
            const scope = date + "/" + credentials.region + "/sqs/aws4_request";
            const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(sha256(utf8(canonical)))].join("\n");
            let key = hmac(utf8("AWS4" + credentials.secret), utf8(date));
            for (const part of [credentials.region, "sqs", "aws4_request"]) key = hmac(key, utf8(part));
            const sent = Object.assign({}, headers);
            delete sent.host;
            sent["X-Amz-Date"] = amzDate;
            sent["Authorization"] = "AWS4-HMAC-SHA256 Credential=" + credentials.keyId + "/" + scope +
              ", SignedHeaders=" + names.join(";") + ", Signature=" + hex(hmac(key, utf8(toSign)));
            return sent;
          }

          Ferry.sha256Hex = (text) => hex(sha256(utf8(text)));
          Ferry.hmacHex = (key, text) => hex(hmac(utf8(key), utf8(text)));
          Ferry.sign = sign;
        })(window.Ferry);
        """#
}
