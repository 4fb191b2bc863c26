/* psycopg2's exception classes by SQLSTATE, and the SQLAlchemy classes
 * that wrap them. The table is psycopg2 2.9's psycopg2.errors mapping
 * (errorcodes of PostgreSQL 15); codes it lacks fall back by SQLSTATE
 * class the way psycopg2's base_exception_from_sqlstate() does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* The DBAPI classes, with SQLAlchemy's error code for each. */
typedef enum pg_base {
    PGE_DATABASE,
    PGE_PROGRAMMING,
    PGE_OPERATIONAL,
    PGE_DATA,
    PGE_INTEGRITY,
    PGE_INTERNAL,
    PGE_NOT_SUPPORTED,
} pg_base;

static const struct {
    const char *name, *sa_code;
} bases[] = {
    [PGE_DATABASE] = {"DatabaseError", "4xp6"},
    [PGE_PROGRAMMING] = {"ProgrammingError", "f405"},
    [PGE_OPERATIONAL] = {"OperationalError", "e3q8"},
    [PGE_DATA] = {"DataError", "9h9h"},
    [PGE_INTEGRITY] = {"IntegrityError", "gkpj"},
    [PGE_INTERNAL] = {"InternalError", "2j85"},
    [PGE_NOT_SUPPORTED] = {"NotSupportedError", "tw8g"},
};

typedef struct pg_code {
    char state[6];
    const char *name;
    pg_base base;
} pg_code;

/* Sorted by SQLSTATE for bsearch. */
static const pg_code codes[] = {
    {"02000", "NoData", PGE_DATABASE},
    {"02001", "NoAdditionalDynamicResultSetsReturned", PGE_DATABASE},
    {"03000", "SqlStatementNotYetComplete", PGE_DATABASE},
    {"08000", "ConnectionException", PGE_OPERATIONAL},
    {"08001", "SqlclientUnableToEstablishSqlconnection", PGE_OPERATIONAL},
    {"08003", "ConnectionDoesNotExist", PGE_OPERATIONAL},
    {"08004", "SqlserverRejectedEstablishmentOfSqlconnection", PGE_OPERATIONAL},
    {"08006", "ConnectionFailure", PGE_OPERATIONAL},
    {"08007", "TransactionResolutionUnknown", PGE_OPERATIONAL},
    {"08P01", "ProtocolViolation", PGE_OPERATIONAL},
    {"09000", "TriggeredActionException", PGE_DATABASE},
    {"0A000", "FeatureNotSupported", PGE_NOT_SUPPORTED},
    {"0B000", "InvalidTransactionInitiation", PGE_DATABASE},
    {"0F000", "LocatorException", PGE_DATABASE},
    {"0F001", "InvalidLocatorSpecification", PGE_DATABASE},
    {"0L000", "InvalidGrantor", PGE_DATABASE},
    {"0LP01", "InvalidGrantOperation", PGE_DATABASE},
    {"0P000", "InvalidRoleSpecification", PGE_DATABASE},
    {"0Z000", "DiagnosticsException", PGE_DATABASE},
    {"0Z002", "StackedDiagnosticsAccessedWithoutActiveHandler", PGE_DATABASE},
    {"20000", "CaseNotFound", PGE_PROGRAMMING},
    {"21000", "CardinalityViolation", PGE_PROGRAMMING},
    {"22000", "DataException", PGE_DATA},
    {"22001", "StringDataRightTruncation", PGE_DATA},
    {"22002", "NullValueNoIndicatorParameter", PGE_DATA},
    {"22003", "NumericValueOutOfRange", PGE_DATA},
    {"22004", "NullValueNotAllowed", PGE_DATA},
    {"22005", "ErrorInAssignment", PGE_DATA},
    {"22007", "InvalidDatetimeFormat", PGE_DATA},
    {"22008", "DatetimeFieldOverflow", PGE_DATA},
    {"22009", "InvalidTimeZoneDisplacementValue", PGE_DATA},
    {"2200B", "EscapeCharacterConflict", PGE_DATA},
    {"2200C", "InvalidUseOfEscapeCharacter", PGE_DATA},
    {"2200D", "InvalidEscapeOctet", PGE_DATA},
    {"2200F", "ZeroLengthCharacterString", PGE_DATA},
    {"2200G", "MostSpecificTypeMismatch", PGE_DATA},
    {"2200H", "SequenceGeneratorLimitExceeded", PGE_DATA},
    {"2200L", "NotAnXmlDocument", PGE_DATA},
    {"2200M", "InvalidXmlDocument", PGE_DATA},
    {"2200N", "InvalidXmlContent", PGE_DATA},
    {"2200S", "InvalidXmlComment", PGE_DATA},
    {"2200T", "InvalidXmlProcessingInstruction", PGE_DATA},
    {"22010", "InvalidIndicatorParameterValue", PGE_DATA},
    {"22011", "SubstringError", PGE_DATA},
    {"22012", "DivisionByZero", PGE_DATA},
    {"22013", "InvalidPrecedingOrFollowingSize", PGE_DATA},
    {"22014", "InvalidArgumentForNtileFunction", PGE_DATA},
    {"22015", "IntervalFieldOverflow", PGE_DATA},
    {"22016", "InvalidArgumentForNthValueFunction", PGE_DATA},
    {"22018", "InvalidCharacterValueForCast", PGE_DATA},
    {"22019", "InvalidEscapeCharacter", PGE_DATA},
    {"2201B", "InvalidRegularExpression", PGE_DATA},
    {"2201E", "InvalidArgumentForLogarithm", PGE_DATA},
    {"2201F", "InvalidArgumentForPowerFunction", PGE_DATA},
    {"2201G", "InvalidArgumentForWidthBucketFunction", PGE_DATA},
    {"2201W", "InvalidRowCountInLimitClause", PGE_DATA},
    {"2201X", "InvalidRowCountInResultOffsetClause", PGE_DATA},
    {"22021", "CharacterNotInRepertoire", PGE_DATA},
    {"22022", "IndicatorOverflow", PGE_DATA},
    {"22023", "InvalidParameterValue", PGE_DATA},
    {"22024", "UnterminatedCString", PGE_DATA},
    {"22025", "InvalidEscapeSequence", PGE_DATA},
    {"22026", "StringDataLengthMismatch", PGE_DATA},
    {"22027", "TrimError", PGE_DATA},
    {"2202E", "ArraySubscriptError", PGE_DATA},
    {"2202G", "InvalidTablesampleRepeat", PGE_DATA},
    {"2202H", "InvalidTablesampleArgument", PGE_DATA},
    {"22030", "DuplicateJsonObjectKeyValue", PGE_DATA},
    {"22031", "InvalidArgumentForSqlJsonDatetimeFunction", PGE_DATA},
    {"22032", "InvalidJsonText", PGE_DATA},
    {"22033", "InvalidSqlJsonSubscript", PGE_DATA},
    {"22034", "MoreThanOneSqlJsonItem", PGE_DATA},
    {"22035", "NoSqlJsonItem", PGE_DATA},
    {"22036", "NonNumericSqlJsonItem", PGE_DATA},
    {"22037", "NonUniqueKeysInAJsonObject", PGE_DATA},
    {"22038", "SingletonSqlJsonItemRequired", PGE_DATA},
    {"22039", "SqlJsonArrayNotFound", PGE_DATA},
    {"2203A", "SqlJsonMemberNotFound", PGE_DATA},
    {"2203B", "SqlJsonNumberNotFound", PGE_DATA},
    {"2203C", "SqlJsonObjectNotFound", PGE_DATA},
    {"2203D", "TooManyJsonArrayElements", PGE_DATA},
    {"2203E", "TooManyJsonObjectMembers", PGE_DATA},
    {"2203F", "SqlJsonScalarRequired", PGE_DATA},
    {"2203G", "SqlJsonItemCannotBeCastToTargetType", PGE_DATA},
    {"22P01", "FloatingPointException", PGE_DATA},
    {"22P02", "InvalidTextRepresentation", PGE_DATA},
    {"22P03", "InvalidBinaryRepresentation", PGE_DATA},
    {"22P04", "BadCopyFileFormat", PGE_DATA},
    {"22P05", "UntranslatableCharacter", PGE_DATA},
    {"22P06", "NonstandardUseOfEscapeCharacter", PGE_DATA},
    {"23000", "IntegrityConstraintViolation", PGE_INTEGRITY},
    {"23001", "RestrictViolation", PGE_INTEGRITY},
    {"23502", "NotNullViolation", PGE_INTEGRITY},
    {"23503", "ForeignKeyViolation", PGE_INTEGRITY},
    {"23505", "UniqueViolation", PGE_INTEGRITY},
    {"23514", "CheckViolation", PGE_INTEGRITY},
    {"23P01", "ExclusionViolation", PGE_INTEGRITY},
    {"24000", "InvalidCursorState", PGE_INTERNAL},
    {"25000", "InvalidTransactionState", PGE_INTERNAL},
    {"25001", "ActiveSqlTransaction", PGE_INTERNAL},
    {"25002", "BranchTransactionAlreadyActive", PGE_INTERNAL},
    {"25003", "InappropriateAccessModeForBranchTransaction", PGE_INTERNAL},
    {"25004", "InappropriateIsolationLevelForBranchTransaction", PGE_INTERNAL},
    {"25005", "NoActiveSqlTransactionForBranchTransaction", PGE_INTERNAL},
    {"25006", "ReadOnlySqlTransaction", PGE_INTERNAL},
    {"25007", "SchemaAndDataStatementMixingNotSupported", PGE_INTERNAL},
    {"25008", "HeldCursorRequiresSameIsolationLevel", PGE_INTERNAL},
    {"25P01", "NoActiveSqlTransaction", PGE_INTERNAL},
    {"25P02", "InFailedSqlTransaction", PGE_INTERNAL},
    {"25P03", "IdleInTransactionSessionTimeout", PGE_INTERNAL},
    {"26000", "InvalidSqlStatementName", PGE_OPERATIONAL},
    {"27000", "TriggeredDataChangeViolation", PGE_OPERATIONAL},
    {"28000", "InvalidAuthorizationSpecification", PGE_OPERATIONAL},
    {"28P01", "InvalidPassword", PGE_OPERATIONAL},
    {"2B000", "DependentPrivilegeDescriptorsStillExist", PGE_INTERNAL},
    {"2BP01", "DependentObjectsStillExist", PGE_INTERNAL},
    {"2D000", "InvalidTransactionTermination", PGE_INTERNAL},
    {"2F000", "SqlRoutineException", PGE_INTERNAL},
    {"2F002", "ModifyingSqlDataNotPermitted", PGE_INTERNAL},
    {"2F003", "ProhibitedSqlStatementAttempted", PGE_INTERNAL},
    {"2F004", "ReadingSqlDataNotPermitted", PGE_INTERNAL},
    {"2F005", "FunctionExecutedNoReturnStatement", PGE_INTERNAL},
    {"34000", "InvalidCursorName", PGE_OPERATIONAL},
    {"38000", "ExternalRoutineException", PGE_INTERNAL},
    {"38001", "ContainingSqlNotPermitted", PGE_INTERNAL},
    {"38002", "ModifyingSqlDataNotPermittedExt", PGE_INTERNAL},
    {"38003", "ProhibitedSqlStatementAttemptedExt", PGE_INTERNAL},
    {"38004", "ReadingSqlDataNotPermittedExt", PGE_INTERNAL},
    {"39000", "ExternalRoutineInvocationException", PGE_INTERNAL},
    {"39001", "InvalidSqlstateReturned", PGE_INTERNAL},
    {"39004", "NullValueNotAllowedExt", PGE_INTERNAL},
    {"39P01", "TriggerProtocolViolated", PGE_INTERNAL},
    {"39P02", "SrfProtocolViolated", PGE_INTERNAL},
    {"39P03", "EventTriggerProtocolViolated", PGE_INTERNAL},
    {"3B000", "SavepointException", PGE_INTERNAL},
    {"3B001", "InvalidSavepointSpecification", PGE_INTERNAL},
    {"3D000", "InvalidCatalogName", PGE_PROGRAMMING},
    {"3F000", "InvalidSchemaName", PGE_PROGRAMMING},
    {"40000", "TransactionRollback", PGE_OPERATIONAL},
    {"40001", "SerializationFailure", PGE_OPERATIONAL},
    {"40002", "TransactionIntegrityConstraintViolation", PGE_OPERATIONAL},
    {"40003", "StatementCompletionUnknown", PGE_OPERATIONAL},
    {"40P01", "DeadlockDetected", PGE_OPERATIONAL},
    {"42000", "SyntaxErrorOrAccessRuleViolation", PGE_PROGRAMMING},
    {"42501", "InsufficientPrivilege", PGE_PROGRAMMING},
    {"42601", "SyntaxError", PGE_PROGRAMMING},
    {"42602", "InvalidName", PGE_PROGRAMMING},
    {"42611", "InvalidColumnDefinition", PGE_PROGRAMMING},
    {"42622", "NameTooLong", PGE_PROGRAMMING},
    {"42701", "DuplicateColumn", PGE_PROGRAMMING},
    {"42702", "AmbiguousColumn", PGE_PROGRAMMING},
    {"42703", "UndefinedColumn", PGE_PROGRAMMING},
    {"42704", "UndefinedObject", PGE_PROGRAMMING},
    {"42710", "DuplicateObject", PGE_PROGRAMMING},
    {"42712", "DuplicateAlias", PGE_PROGRAMMING},
    {"42723", "DuplicateFunction", PGE_PROGRAMMING},
    {"42725", "AmbiguousFunction", PGE_PROGRAMMING},
    {"42803", "GroupingError", PGE_PROGRAMMING},
    {"42804", "DatatypeMismatch", PGE_PROGRAMMING},
    {"42809", "WrongObjectType", PGE_PROGRAMMING},
    {"42830", "InvalidForeignKey", PGE_PROGRAMMING},
    {"42846", "CannotCoerce", PGE_PROGRAMMING},
    {"42883", "UndefinedFunction", PGE_PROGRAMMING},
    {"428C9", "GeneratedAlways", PGE_PROGRAMMING},
    {"42939", "ReservedName", PGE_PROGRAMMING},
    {"42P01", "UndefinedTable", PGE_PROGRAMMING},
    {"42P02", "UndefinedParameter", PGE_PROGRAMMING},
    {"42P03", "DuplicateCursor", PGE_PROGRAMMING},
    {"42P04", "DuplicateDatabase", PGE_PROGRAMMING},
    {"42P05", "DuplicatePreparedStatement", PGE_PROGRAMMING},
    {"42P06", "DuplicateSchema", PGE_PROGRAMMING},
    {"42P07", "DuplicateTable", PGE_PROGRAMMING},
    {"42P08", "AmbiguousParameter", PGE_PROGRAMMING},
    {"42P09", "AmbiguousAlias", PGE_PROGRAMMING},
    {"42P10", "InvalidColumnReference", PGE_PROGRAMMING},
    {"42P11", "InvalidCursorDefinition", PGE_PROGRAMMING},
    {"42P12", "InvalidDatabaseDefinition", PGE_PROGRAMMING},
    {"42P13", "InvalidFunctionDefinition", PGE_PROGRAMMING},
    {"42P14", "InvalidPreparedStatementDefinition", PGE_PROGRAMMING},
    {"42P15", "InvalidSchemaDefinition", PGE_PROGRAMMING},
    {"42P16", "InvalidTableDefinition", PGE_PROGRAMMING},
    {"42P17", "InvalidObjectDefinition", PGE_PROGRAMMING},
    {"42P18", "IndeterminateDatatype", PGE_PROGRAMMING},
    {"42P19", "InvalidRecursion", PGE_PROGRAMMING},
    {"42P20", "WindowingError", PGE_PROGRAMMING},
    {"42P21", "CollationMismatch", PGE_PROGRAMMING},
    {"42P22", "IndeterminateCollation", PGE_PROGRAMMING},
    {"44000", "WithCheckOptionViolation", PGE_PROGRAMMING},
    {"53000", "InsufficientResources", PGE_OPERATIONAL},
    {"53100", "DiskFull", PGE_OPERATIONAL},
    {"53200", "OutOfMemory", PGE_OPERATIONAL},
    {"53300", "TooManyConnections", PGE_OPERATIONAL},
    {"53400", "ConfigurationLimitExceeded", PGE_OPERATIONAL},
    {"54000", "ProgramLimitExceeded", PGE_OPERATIONAL},
    {"54001", "StatementTooComplex", PGE_OPERATIONAL},
    {"54011", "TooManyColumns", PGE_OPERATIONAL},
    {"54023", "TooManyArguments", PGE_OPERATIONAL},
    {"55000", "ObjectNotInPrerequisiteState", PGE_OPERATIONAL},
    {"55006", "ObjectInUse", PGE_OPERATIONAL},
    {"55P02", "CantChangeRuntimeParam", PGE_OPERATIONAL},
    {"55P03", "LockNotAvailable", PGE_OPERATIONAL},
    {"55P04", "UnsafeNewEnumValueUsage", PGE_OPERATIONAL},
    {"57000", "OperatorIntervention", PGE_OPERATIONAL},
    {"57014", "QueryCanceled", PGE_OPERATIONAL},
    {"57P01", "AdminShutdown", PGE_OPERATIONAL},
    {"57P02", "CrashShutdown", PGE_OPERATIONAL},
    {"57P03", "CannotConnectNow", PGE_OPERATIONAL},
    {"57P04", "DatabaseDropped", PGE_OPERATIONAL},
    {"57P05", "IdleSessionTimeout", PGE_OPERATIONAL},
    {"58000", "SystemError", PGE_OPERATIONAL},
    {"58030", "IoError", PGE_OPERATIONAL},
    {"58P01", "UndefinedFile", PGE_OPERATIONAL},
    {"58P02", "DuplicateFile", PGE_OPERATIONAL},
    {"72000", "SnapshotTooOld", PGE_DATABASE},
    {"F0000", "ConfigFileError", PGE_INTERNAL},
    {"F0001", "LockFileExists", PGE_INTERNAL},
    {"HV000", "FdwError", PGE_OPERATIONAL},
    {"HV001", "FdwOutOfMemory", PGE_OPERATIONAL},
    {"HV002", "FdwDynamicParameterValueNeeded", PGE_OPERATIONAL},
    {"HV004", "FdwInvalidDataType", PGE_OPERATIONAL},
    {"HV005", "FdwColumnNameNotFound", PGE_OPERATIONAL},
    {"HV006", "FdwInvalidDataTypeDescriptors", PGE_OPERATIONAL},
    {"HV007", "FdwInvalidColumnName", PGE_OPERATIONAL},
    {"HV008", "FdwInvalidColumnNumber", PGE_OPERATIONAL},
    {"HV009", "FdwInvalidUseOfNullPointer", PGE_OPERATIONAL},
    {"HV00A", "FdwInvalidStringFormat", PGE_OPERATIONAL},
    {"HV00B", "FdwInvalidHandle", PGE_OPERATIONAL},
    {"HV00C", "FdwInvalidOptionIndex", PGE_OPERATIONAL},
    {"HV00D", "FdwInvalidOptionName", PGE_OPERATIONAL},
    {"HV00J", "FdwOptionNameNotFound", PGE_OPERATIONAL},
    {"HV00K", "FdwReplyHandle", PGE_OPERATIONAL},
    {"HV00L", "FdwUnableToCreateExecution", PGE_OPERATIONAL},
    {"HV00M", "FdwUnableToCreateReply", PGE_OPERATIONAL},
    {"HV00N", "FdwUnableToEstablishConnection", PGE_OPERATIONAL},
    {"HV00P", "FdwNoSchemas", PGE_OPERATIONAL},
    {"HV00Q", "FdwSchemaNotFound", PGE_OPERATIONAL},
    {"HV00R", "FdwTableNotFound", PGE_OPERATIONAL},
    {"HV010", "FdwFunctionSequenceError", PGE_OPERATIONAL},
    {"HV014", "FdwTooManyHandles", PGE_OPERATIONAL},
    {"HV021", "FdwInconsistentDescriptorInformation", PGE_OPERATIONAL},
    {"HV024", "FdwInvalidAttributeValue", PGE_OPERATIONAL},
    {"HV090", "FdwInvalidStringLengthOrBufferLength", PGE_OPERATIONAL},
    {"HV091", "FdwInvalidDescriptorFieldIdentifier", PGE_OPERATIONAL},
    {"P0000", "PlpgsqlError", PGE_INTERNAL},
    {"P0001", "RaiseException", PGE_INTERNAL},
    {"P0002", "NoDataFound", PGE_INTERNAL},
    {"P0003", "TooManyRows", PGE_INTERNAL},
    {"P0004", "AssertFailure", PGE_INTERNAL},
    {"XX000", "InternalError_", PGE_INTERNAL},
    {"XX001", "DataCorrupted", PGE_INTERNAL},
    {"XX002", "IndexCorrupted", PGE_INTERNAL},
};

static int cmp_code(const void *key, const void *elem)
{
    return strncmp(key, ((const pg_code *)elem)->state, 5);
}

/* psycopg2's base_exception_from_sqlstate(). */
static pg_base fallback_base(const char *s)
{
    switch (s[0]) {
    case '0':
        if (s[1] == 'A')
            return PGE_NOT_SUPPORTED;
        if (s[1] == '8')
            return PGE_OPERATIONAL;
        break;
    case '2':
        switch (s[1]) {
        case '0': case '1': return PGE_PROGRAMMING;
        case '2': return PGE_DATA;
        case '3': return PGE_INTEGRITY;
        case '4': case '5': case 'B': case 'D': case 'F': return PGE_INTERNAL;
        case '6': case '7': case '8': return PGE_OPERATIONAL;
        }
        break;
    case '3':
        switch (s[1]) {
        case '4': return PGE_OPERATIONAL;
        case '8': case '9': case 'B': return PGE_INTERNAL;
        case 'D': case 'F': return PGE_PROGRAMMING;
        }
        break;
    case '4':
        if (s[1] == '0')
            return PGE_OPERATIONAL;
        if (s[1] == '2' || s[1] == '4')
            return PGE_PROGRAMMING;
        break;
    case '5':
    case 'H':
        return PGE_OPERATIONAL;
    case 'F':
    case 'P':
    case 'X':
        return PGE_INTERNAL;
    }
    return PGE_DATABASE;
}

void pg_error_class(const char *sqlstate, pg_errclass *out)
{
    const pg_code *c = NULL;
    if (sqlstate && strlen(sqlstate) == 5)
        c = bsearch(sqlstate, codes, ARRAY_LEN(codes), sizeof codes[0], cmp_code);
    pg_base b = c ? c->base : (sqlstate && *sqlstate ? fallback_base(sqlstate) : PGE_OPERATIONAL);
    if (c)
        snprintf(out->pyclass, sizeof out->pyclass, "psycopg2.errors.%s", c->name);
    else
        snprintf(out->pyclass, sizeof out->pyclass, "psycopg2.%s", bases[b].name);
    out->sa_class = bases[b].name;
    out->sa_code = bases[b].sa_code;
}
