/* SPDX-License-Identifier: ISC */
/*
 * The CA's ASN.1 types that OpenSSL does not have, as OpenSSL templates
 * (definitions in asn1.c), with the RFC's names.
 *
 * RFC 3739 3.2.6 and ETSI EN 319 412-5 4:
 *   QCStatements ::= SEQUENCE OF QCStatement
 *   QCStatement ::= SEQUENCE { statementId OBJECT IDENTIFIER,
 *       statementInfo ANY DEFINED BY statementId OPTIONAL }
 *   QcType ::= SEQUENCE OF OBJECT IDENTIFIER
 *   PdsLocations ::= SEQUENCE SIZE (1..MAX) OF PdsLocation
 *   PdsLocation ::= SEQUENCE { url IA5String,
 *       language PrintableString (SIZE(2)) }
 *   QcEuRetentionPeriod ::= INTEGER
 *   QcCClegislation ::= SEQUENCE OF CountryName
 *   CountryName ::= PrintableString (SIZE (2))   -- ISO 3166 alpha-2
 *   QcEuLimitValue ::= MonetaryValue
 *   MonetaryValue ::= SEQUENCE { currency Iso4217CurrencyCode,
 *       amount INTEGER, exponent INTEGER }   -- amount * 10^exponent
 *   Iso4217CurrencyCode ::= CHOICE { alphabetic PrintableString
 *       (SIZE (3)), numeric INTEGER (1..999) }
 *
 * MonetaryValue's currency is only ever the alphabetic choice here (EN
 * 319 412-5 4.3.2 recommends it), and an untagged CHOICE encodes as the
 * alternative chosen, so the template holds a PrintableString.
 */
#ifndef CA_ASN1_H
#define CA_ASN1_H

#include <openssl/asn1t.h>
#include <openssl/safestack.h>

typedef struct {
	ASN1_OBJECT	*statementId;
	ASN1_TYPE	*statementInfo;
} QCStatement;

DECLARE_ASN1_FUNCTIONS(QCStatement)
DEFINE_STACK_OF(QCStatement)

typedef STACK_OF(QCStatement) QCStatements;
DECLARE_ASN1_FUNCTIONS(QCStatements)

typedef STACK_OF(ASN1_OBJECT) QcType;
DECLARE_ASN1_FUNCTIONS(QcType)

typedef struct {
	ASN1_IA5STRING		*url;
	ASN1_PRINTABLESTRING	*language;
} PdsLocation;

DECLARE_ASN1_FUNCTIONS(PdsLocation)
DEFINE_STACK_OF(PdsLocation)

typedef STACK_OF(PdsLocation) PdsLocations;
DECLARE_ASN1_FUNCTIONS(PdsLocations)

DEFINE_STACK_OF(ASN1_PRINTABLESTRING)
typedef STACK_OF(ASN1_PRINTABLESTRING) QcCClegislation;
DECLARE_ASN1_FUNCTIONS(QcCClegislation)

typedef struct {
	ASN1_PRINTABLESTRING	*currency;
	ASN1_INTEGER		*amount;
	ASN1_INTEGER		*exponent;
} MonetaryValue;

DECLARE_ASN1_FUNCTIONS(MonetaryValue)

#endif
