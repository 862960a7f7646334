import selfsigned from 'selfsigned';

/**
 * A self-signed certificate for a test server on 127.0.0.1, valid for a day: the Azure SDK
 * clients under test speak HTTPS only, and trust it through the CA they are given.
 */
export function loopbackCertificate(commonName: string): Promise<{ private: string; cert: string }> {
  return selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
}
