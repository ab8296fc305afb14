/* SPDX-License-Identifier: ISC */
/*
 * Templates of the types declared in ca/asn1.h (RFC 3739 3.2.6, ETSI EN
 * 319 412-5 4).  qc.c encodes with them; the unit tests decode with them.
 */
#include "ca/asn1.h"

ASN1_SEQUENCE(QCStatement) = {
	ASN1_SIMPLE(QCStatement, statementId, ASN1_OBJECT),
	ASN1_OPT(QCStatement, statementInfo, ASN1_ANY),
} ASN1_SEQUENCE_END(QCStatement)

IMPLEMENT_ASN1_FUNCTIONS(QCStatement)

ASN1_ITEM_TEMPLATE(QCStatements) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QCStatements,
	    QCStatement)
ASN1_ITEM_TEMPLATE_END(QCStatements)

IMPLEMENT_ASN1_FUNCTIONS(QCStatements)

ASN1_ITEM_TEMPLATE(QcType) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QcType, ASN1_OBJECT)
ASN1_ITEM_TEMPLATE_END(QcType)

IMPLEMENT_ASN1_FUNCTIONS(QcType)

ASN1_SEQUENCE(PdsLocation) = {
	ASN1_SIMPLE(PdsLocation, url, ASN1_IA5STRING),
	ASN1_SIMPLE(PdsLocation, language, ASN1_PRINTABLESTRING),
} ASN1_SEQUENCE_END(PdsLocation)

IMPLEMENT_ASN1_FUNCTIONS(PdsLocation)

ASN1_ITEM_TEMPLATE(PdsLocations) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, PdsLocations,
	    PdsLocation)
ASN1_ITEM_TEMPLATE_END(PdsLocations)

IMPLEMENT_ASN1_FUNCTIONS(PdsLocations)

ASN1_ITEM_TEMPLATE(QcCClegislation) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QcCClegislation,
	    ASN1_PRINTABLESTRING)
ASN1_ITEM_TEMPLATE_END(QcCClegislation)

IMPLEMENT_ASN1_FUNCTIONS(QcCClegislation)

ASN1_SEQUENCE(MonetaryValue) = {
	ASN1_SIMPLE(MonetaryValue, currency, ASN1_PRINTABLESTRING),
	ASN1_SIMPLE(MonetaryValue, amount, ASN1_INTEGER),
	ASN1_SIMPLE(MonetaryValue, exponent, ASN1_INTEGER),
} ASN1_SEQUENCE_END(MonetaryValue)

IMPLEMENT_ASN1_FUNCTIONS(MonetaryValue)
