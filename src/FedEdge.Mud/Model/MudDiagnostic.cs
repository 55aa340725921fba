namespace FedEdge.Mud;

/// <summary>How serious a MUD diagnostic is.</summary>
public enum MudSeverity
{
    /// <summary>Informational remark (for example a default value that applies).</summary>
    Info,

    /// <summary>A SHOULD-level remark, or a draft-era shape tolerated in lenient mode.</summary>
    Warning,

    /// <summary>A violation of a MUST in RFC 8520 / RFC 8519 / RFC 7951, or unreadable input.</summary>
    Error,
}

/// <summary>The parsing mode.</summary>
public enum MudParseMode
{
    /// <summary>RFC 8520 as written: every draft-era shape is an error.</summary>
    Strict,

    /// <summary>Also reads the draft-era shapes seen in real files, reporting each as a warning.</summary>
    Lenient,
}

/// <summary>One finding about a MUD file: a stable code, the JSON path, the severity and the rule it breaks.</summary>
/// <param name="Code">Stable machine-readable code (see <see cref="MudDiagnosticCodes"/>).</param>
/// <param name="Path">JSON path of the offending node (for example <c>$['ietf-mud:mud']['mud-url']</c>).</param>
/// <param name="Severity">How serious it is.</param>
/// <param name="Message">Human-readable explanation.</param>
/// <param name="Rule">The rule broken (RFC and section).</param>
public sealed record MudDiagnostic(string Code, string Path, MudSeverity Severity, string Message, string Rule)
{
    /// <inheritdoc />
    public override string ToString() => $"{Severity} {Code} at {Path}: {Message} [{Rule}]";
}

/// <summary>The stable diagnostic codes reported by the parser and validator.</summary>
public static class MudDiagnosticCodes
{
    /// <summary>The input is not well-formed JSON.</summary>
    public const string InvalidJson = "MUD0001";

    /// <summary>The input exceeds the configured size limit.</summary>
    public const string TooLarge = "MUD0002";

    /// <summary>The input nests deeper than the configured limit.</summary>
    public const string TooDeep = "MUD0003";

    /// <summary>The file holds more ACEs than the configured limit.</summary>
    public const string TooManyAces = "MUD0004";

    /// <summary>The top-level JSON value is not an object.</summary>
    public const string RootNotObject = "MUD0010";

    /// <summary>No <c>ietf-mud:mud</c> container.</summary>
    public const string MudContainerMissing = "MUD0011";

    /// <summary>A draft-era MUD root container (for example <c>ietf-mud:support-information</c>).</summary>
    public const string LegacyMudContainer = "MUD0012";

    /// <summary>No <c>ietf-access-control-list:acls</c> container.</summary>
    public const string AclContainerMissing = "MUD0013";

    /// <summary>The pre-RFC 8519 ACL root <c>ietf-access-control-list:access-lists</c>.</summary>
    public const string LegacyAclContainer = "MUD0014";

    /// <summary>An unknown top-level member.</summary>
    public const string UnknownRootMember = "MUD0015";

    /// <summary>A mandatory leaf is missing.</summary>
    public const string MissingLeaf = "MUD0020";

    /// <summary>A leaf has the wrong JSON type.</summary>
    public const string WrongType = "MUD0021";

    /// <summary>mud-version is not 1.</summary>
    public const string BadMudVersion = "MUD0022";

    /// <summary>mud-url is not an absolute https URL with a valid host.</summary>
    public const string BadMudUrl = "MUD0023";

    /// <summary>A date is not a YANG date-and-time with a time-zone offset.</summary>
    public const string BadDateTime = "MUD0024";

    /// <summary>cache-validity outside 1..168.</summary>
    public const string BadCacheValidity = "MUD0025";

    /// <summary>cache-validity absent: the default 48 hours applies.</summary>
    public const string DefaultCacheValidity = "MUD0026";

    /// <summary>systeminfo longer than 60 characters.</summary>
    public const string LongSystemInfo = "MUD0027";

    /// <summary>mud-signature is not an absolute URI.</summary>
    public const string BadSignatureUrl = "MUD0028";

    /// <summary>documentation is not a URI.</summary>
    public const string BadDocumentationUrl = "MUD0029";

    /// <summary>A member in the mud container that is neither RFC 8520 nor a declared extension.</summary>
    public const string UndeclaredExtension = "MUD0030";

    /// <summary>An unknown member without a module prefix.</summary>
    public const string UnknownMember = "MUD0031";

    /// <summary>A draft-era member name (acl-name, acl-type, access-list-entries, rule-name, ...).</summary>
    public const string LegacyMemberName = "MUD0040";

    /// <summary>An empty leaf encoded as <c>[]</c> or <c>true</c> instead of <c>[null]</c>.</summary>
    public const string EmptyLeafEncoding = "MUD0041";

    /// <summary>A policy names an ACL that does not exist.</summary>
    public const string UnresolvedPolicyAcl = "MUD0050";

    /// <summary>An ACL is referenced from both the from-device and the to-device policy.</summary>
    public const string AclInBothDirections = "MUD0051";

    /// <summary>An ACL is not referenced by any policy.</summary>
    public const string UnreferencedAcl = "MUD0052";

    /// <summary>Duplicate ACL or ACE name.</summary>
    public const string DuplicateName = "MUD0053";

    /// <summary>An ACL type that is not an RFC 8519 identity.</summary>
    public const string UnknownAclType = "MUD0060";

    /// <summary>A match container that does not fit the ACL type (for example eth inside ipv4-acl-type).</summary>
    public const string MatchTypeMismatch = "MUD0061";

    /// <summary>An unknown match container.</summary>
    public const string UnknownMatch = "MUD0062";

    /// <summary>A forwarding action other than accept/drop/reject.</summary>
    public const string BadAction = "MUD0063";

    /// <summary>src-dnsname in a from-device ACL or dst-dnsname in a to-device ACL.</summary>
    public const string DnsNameDirection = "MUD0070";

    /// <summary>direction-initiated used outside a tcp match.</summary>
    public const string DirectionNotTcp = "MUD0071";

    /// <summary>controller, model or my-controller is not a URI.</summary>
    public const string NotAUri = "MUD0072";

    /// <summary>An urn:ietf:params:mud URN that IANA has not registered.</summary>
    public const string UnregisteredMudUrn = "MUD0073";

    /// <summary>manufacturer / same-manufacturer is not a host name.</summary>
    public const string BadHostName = "MUD0074";

    /// <summary>A bad port, protocol, address or operator value.</summary>
    public const string BadValue = "MUD0075";

    /// <summary>An ACE names an IP literal (SHOULD use names).</summary>
    public const string IpLiteral = "MUD0080";

    /// <summary>A tcp/udp match without the matching L3 protocol number.</summary>
    public const string L4WithoutProtocol = "MUD0081";

    /// <summary>The FedEdge federated-learning extension is malformed.</summary>
    public const string BadFederationExtension = "MUD0090";

    /// <summary>A JSON object names the same member twice (RFC 7951 / RFC 7950: a node occurs once).</summary>
    public const string DuplicateMember = "MUD0005";

    /// <summary>A string or member name holds a control character (YANG strings are XML characters).</summary>
    public const string ControlCharacter = "MUD0006";
}
