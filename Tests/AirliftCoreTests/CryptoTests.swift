import AirliftCrypto
import Testing

@Suite("libcrypto wrapper")
struct CryptoTests {
  @Test("SHA-256 matches the FIPS 180-2 test vectors, incrementally too")
  func sha256() {
    #expect(
      SHA256Hasher.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256Hasher.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    let hasher = SHA256Hasher()
    for chunk in ["ab", "c"] { hasher.update(Array(chunk.utf8)) }
    #expect(hasher.finalizeHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test("garbage is not a certificate")
  func notACertificate() {
    #expect(throws: CertificateError.unparsable) { try CertificateIdentity.commonName(der: [1, 2, 3]) }
  }
}

@Suite("Asset link tokens in nginx's secure_link format")
struct AssetLinkSignerTests {
  @Test("the token is nginx's documented example for the same string")
  func matchesNginx() {
    // nginx docs: echo -n '2147483647/s/link127.0.0.1 secret' | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =
    #expect(
      AssetLinkSigner(secret: "secret").token(path: "/s/link127.0.0.1", expires: 2_147_483_647)
        == "_e4Nc3iduzkWRm01TBBNYw")
  }

  @Test("a link is valid until it expires, for its path and secret only")
  func verdicts() {
    let signer = AssetLinkSigner(secret: "k")
    let token = signer.token(path: "/links/a/x", expires: 1000)
    #expect(signer.check(path: "/links/a/x", token: token, expires: "1000", now: 999) == .valid)
    #expect(signer.check(path: "/links/a/x", token: token, expires: "1000", now: 1001) == .expired(at: 1000))
    #expect(signer.check(path: "/links/b/x", token: token, expires: "1000", now: 999) == .invalid)
    #expect(signer.check(path: "/links/a/x", token: token, expires: "10000", now: 999) == .invalid)
    #expect(
      AssetLinkSigner(secret: "other").check(path: "/links/a/x", token: token, expires: "1000", now: 999) == .invalid)
    #expect(signer.check(path: "/links/a/x", token: nil, expires: "1000", now: 999) == .invalid)
    #expect(signer.check(path: "/links/a/x", token: token, expires: "soon", now: 999) == .invalid)
    #expect(signer.check(path: "/links/a/x", token: String(token.dropLast()), expires: "1000", now: 999) == .invalid)
  }
}
