import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extension,
  KeyIdentifier,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
} from '@peculiar/asn1-x509';
import { explicit, tlv } from './der.js';
import { KU } from './certificate-info.js';
import { OID, oidDer } from './oids.js';

/** The subject of every leaf SVID (RDN sequence C=US, O=Tessera). Non-empty, so the SAN extension is not critical. */
export const LEAF_SUBJECT = { country: 'US', organization: 'Tessera' } as const;
/** Leaf key usage: digitalSignature, keyEncipherment, keyAgreement (critical), as SPIRE issues. */
export const LEAF_KEY_USAGE = KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement;

const ser = (v: object): Uint8Array => new Uint8Array(AsnConvert.serialize(v));

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return ser(new Extension({ extnID: oid, critical, extnValue: new OctetString(value) }));
}

/** The parts of a leaf TBSCertificate that do not depend on the leaf, encoded once with @peculiar/asn1-schema. */
export interface LeafTemplate {
  /** `[0] { INTEGER 2 }`. */
  readonly version: Uint8Array;
  readonly subject: Uint8Array;
  /** basicConstraints (CA:false), keyUsage, extKeyUsage, authorityKeyIdentifier: each a full Extension TLV. */
  readonly fixedExtensions: Uint8Array[];
  /** OID TLVs of the per-leaf extensions. */
  readonly skiOid: Uint8Array;
  readonly sanOid: Uint8Array;
}

export function leafTemplate(authorityKeyId: Uint8Array): LeafTemplate {
  const subject = ser(
    new Name([
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({
          type: OID.countryName,
          value: new AttributeValue({ printableString: LEAF_SUBJECT.country }),
        }),
      ]),
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({
          type: OID.organizationName,
          value: new AttributeValue({ printableString: LEAF_SUBJECT.organization }),
        }),
      ]),
    ]),
  );
  const keyUsage = new KeyUsage(LEAF_KEY_USAGE);
  return {
    version: explicit(0, tlv(0x02, Uint8Array.of(2))),
    subject,
    fixedExtensions: [
      extension(OID.basicConstraints, true, ser(new BasicConstraints({ cA: false }))),
      extension(OID.keyUsage, true, ser(keyUsage)),
      extension(OID.extKeyUsage, false, ser(new ExtendedKeyUsage([OID.serverAuth, OID.clientAuth]))),
      extension(
        OID.authorityKeyIdentifier,
        false,
        ser(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) })),
      ),
    ],
    skiOid: oidDer(OID.subjectKeyIdentifier),
    sanOid: oidDer(OID.subjectAltName),
  };
}
