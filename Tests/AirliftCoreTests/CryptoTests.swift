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
