namespace FedEdge.Data;

/// <summary>How a feature column's text becomes numbers.</summary>
public enum ColumnKind
{
    /// <summary>A decimal number (invariant culture, exponents allowed).</summary>
    Numeric = 0,

    /// <summary><c>true</c>/<c>false</c>, <c>1</c>/<c>0</c>, <c>on</c>/<c>off</c>, <c>yes</c>/<c>no</c> (case-insensitive) → 1/0.</summary>
    Boolean = 1,

    /// <summary>One of a fixed list of categories, encoded one-hot or as its ordinal.</summary>
    Categorical = 2,

    /// <summary>A clock time <c>H:MM:SS</c> or <c>HH:MM:SS</c> → seconds since midnight.</summary>
    TimeOfDay = 3,
}

/// <summary>How a categorical column is encoded.</summary>
public enum CategoricalEncoding
{
    /// <summary>One feature per category (<c>name=value</c>), 1 for the row's category.</summary>
    OneHot = 0,

    /// <summary>One feature: the category's index in the list.</summary>
    Ordinal = 1,
}

/// <summary>What a reader does with a missing value (one of <see cref="TabularReadOptions.MissingMarkers"/>) in a non-categorical column.</summary>
public enum MissingValuePolicy
{
    /// <summary>The row is bad (then <see cref="TabularReadOptions.BadRows"/> decides).</summary>
    BadRow = 0,

    /// <summary>
    /// Fill with <see cref="TabularReadOptions.MissingFill"/> and add a <c>name.missing</c> indicator feature (1 when missing),
    /// so a missing value is never confused with a real one.
    /// </summary>
    FillWithIndicator = 1,
}

/// <summary>One feature column and how to encode it.</summary>
public sealed record ColumnSpec
{
    /// <summary>Creates a column spec.</summary>
    public ColumnSpec(string name, ColumnKind kind = ColumnKind.Numeric)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Kind = kind;
    }

    /// <summary>The column's header name.</summary>
    public string Name { get; }

    /// <summary>The kind.</summary>
    public ColumnKind Kind { get; }

    /// <summary>The categories of a categorical column, in encoding order (compared after trimming, case-insensitively). Required for categorical columns.</summary>
    public IReadOnlyList<string>? Categories { get; init; }

    /// <summary>The encoding of a categorical column.</summary>
    public CategoricalEncoding Encoding { get; init; } = CategoricalEncoding.OneHot;

    /// <summary>When true, an unlisted category maps to an extra <c>name=&lt;other&gt;</c> feature (or ordinal = count); when false it makes the row bad.</summary>
    public bool AllowOther { get; init; }

    /// <summary>A categorical column.</summary>
    public static ColumnSpec Categorical(string name, IReadOnlyList<string> categories, CategoricalEncoding encoding = CategoricalEncoding.OneHot, bool allowOther = false) =>
        new(name, ColumnKind.Categorical) { Categories = categories, Encoding = encoding, AllowOther = allowOther };
}

/// <summary>
/// Options of <see cref="TabularReader"/>: which column is the label, which are features (and how to encode them),
/// which are ignored, and what to do with bad rows, missing and out-of-range values. Presets:
/// <see cref="TonIot"/> and <see cref="Iot23"/>.
/// </summary>
public sealed record TabularReadOptions
{
    /// <summary>The field separator.</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>
    /// A separator inside fields that splits one field into several (IoT-23 joins its last three columns with three
    /// spaces in some captures); applied to the header and to rows. Null: none.
    /// </summary>
    public string? SubFieldSeparator { get; init; }

    /// <summary>Header names to rename before matching (e.g. IoT-23's <c>det_label</c> → <c>detailed-label</c>).</summary>
    public IReadOnlyDictionary<string, string> ColumnAliases { get; init; } = new Dictionary<string, string>();

    /// <summary>The label column.</summary>
    public required string LabelColumn { get; init; }

    /// <summary>Label texts meaning 1 (case-insensitive, trimmed); with <see cref="NegativeLabels"/>. When both are null the label must be the number 0 or 1.</summary>
    public IReadOnlyList<string>? PositiveLabels { get; init; }

    /// <summary>Label texts meaning 0 (case-insensitive, trimmed).</summary>
    public IReadOnlyList<string>? NegativeLabels { get; init; }

    /// <summary>An optional column whose trimmed text becomes the row's class name (<c>type</c>, <c>detailed-label</c>).</summary>
    public string? ClassColumn { get; init; }

    /// <summary>The feature columns in output order; null takes every column that is not the label, the class column or ignored, using <see cref="KnownColumns"/> or numeric.</summary>
    public IReadOnlyList<ColumnSpec>? Features { get; init; }

    /// <summary>Encodings for columns by name, used when <see cref="Features"/> is null.</summary>
    public IReadOnlyDictionary<string, ColumnSpec> KnownColumns { get; init; } = new Dictionary<string, ColumnSpec>();

    /// <summary>Columns never used as features (identifiers, leaking columns).</summary>
    public IReadOnlyList<string> IgnoredColumns { get; init; } = [];

    /// <summary>Trim spaces around every field before parsing (TON_IoT pads many fields).</summary>
    public bool Trim { get; init; } = true;

    /// <summary>Texts that mean "missing" (after trimming), e.g. Zeek's <c>-</c>.</summary>
    public IReadOnlyList<string> MissingMarkers { get; init; } = [];

    /// <summary>What to do with missing values.</summary>
    public MissingValuePolicy Missing { get; init; } = MissingValuePolicy.BadRow;

    /// <summary>The fill value under <see cref="MissingValuePolicy.FillWithIndicator"/>.</summary>
    public float MissingFill { get; init; }

    /// <summary>What to do with a bad row.</summary>
    public BadRowPolicy BadRows { get; init; } = BadRowPolicy.Reject;

    /// <summary>What to do with values beyond float32's range.</summary>
    public OutOfRangePolicy OutOfRange { get; init; } = OutOfRangePolicy.BadRow;

    /// <summary>
    /// TON_IoT telemetry (one CSV per device type): label <c>label</c> (0/1), class <c>type</c>, and every sensor column as a
    /// feature. <c>date</c> is always ignored: on its own it separates normal from attack rows (PROVENANCE Q4). <c>time</c> is
    /// ignored too unless <paramref name="includeTimeOfDay"/>, then it becomes seconds since midnight. Categorical sensors are
    /// encoded with fixed categories after trimming; <c>sphone_signal</c> (<c>true</c>/<c>false</c> on normal rows,
    /// <c>1</c>/<c>0</c> on attack rows, Q2) is read as a boolean so its spelling cannot leak the class.
    /// </summary>
    public static TabularReadOptions TonIot(bool includeTimeOfDay = false, CategoricalEncoding encoding = CategoricalEncoding.OneHot) => new()
    {
        LabelColumn = "label",
        ClassColumn = "type",
        IgnoredColumns = includeTimeOfDay ? ["date"] : ["date", "time"],
        KnownColumns = new Dictionary<string, ColumnSpec>(StringComparer.Ordinal)
        {
            ["time"] = new ColumnSpec("time", ColumnKind.TimeOfDay),
            ["temp_condition"] = ColumnSpec.Categorical("temp_condition", ["low", "high"], encoding),
            ["door_state"] = ColumnSpec.Categorical("door_state", ["closed", "open"], encoding),
            ["light_status"] = ColumnSpec.Categorical("light_status", ["off", "on"], encoding),
            ["sphone_signal"] = new ColumnSpec("sphone_signal", ColumnKind.Boolean),
            ["motion_status"] = new ColumnSpec("motion_status", ColumnKind.Boolean),
            ["thermostat_status"] = new ColumnSpec("thermostat_status", ColumnKind.Boolean),
        },
    };

    /// <summary>
    /// IoT-23 Zeek <c>conn.log.labeled</c> files (tab-separated; both label layouts, Q1): label <c>label</c>
    /// (<c>Malicious</c> → 1, <c>benign</c>/<c>Benign</c> → 0, Q2), class <c>detailed-label</c>; features are the flow
    /// counters (Zeek <c>-</c> is missing, never zero: filled with 0 plus a <c>.missing</c> indicator, Q3) and the protocol,
    /// service and connection state one-hot. Identifiers and addresses (<c>ts</c>, <c>uid</c>, hosts, ports) are not used (Q5).
    /// </summary>
    public static TabularReadOptions Iot23(CategoricalEncoding encoding = CategoricalEncoding.OneHot) => new()
    {
        Delimiter = '\t',
        SubFieldSeparator = "   ",
        ColumnAliases = new Dictionary<string, string>(StringComparer.Ordinal) { ["det_label"] = "detailed-label" },
        LabelColumn = "label",
        PositiveLabels = ["Malicious"],
        NegativeLabels = ["Benign"],
        ClassColumn = "detailed-label",
        MissingMarkers = ["-", "(empty)"],
        Missing = MissingValuePolicy.FillWithIndicator,
        Features =
        [
            new ColumnSpec("duration"),
            new ColumnSpec("orig_bytes"),
            new ColumnSpec("resp_bytes"),
            new ColumnSpec("missed_bytes"),
            new ColumnSpec("orig_pkts"),
            new ColumnSpec("orig_ip_bytes"),
            new ColumnSpec("resp_pkts"),
            new ColumnSpec("resp_ip_bytes"),
            ColumnSpec.Categorical("proto", ["tcp", "udp", "icmp"], encoding, allowOther: true),
            ColumnSpec.Categorical("service", ["-", "dns", "http", "dhcp", "ssl", "irc", "ssh", "ntp"], encoding, allowOther: true),
            ColumnSpec.Categorical("conn_state", ["S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"], encoding, allowOther: true),
        ],
    };

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(LabelColumn);
        if ((PositiveLabels is null) != (NegativeLabels is null))
        {
            throw new ArgumentException("Give both positive and negative label texts, or neither (numeric 0/1 labels).");
        }

        foreach (ColumnSpec spec in (Features ?? []).Concat(KnownColumns.Values))
        {
            if (spec.Kind == ColumnKind.Categorical && (spec.Categories is null || spec.Categories.Count == 0))
            {
                throw new ArgumentException($"Categorical column '{spec.Name}' needs its list of categories, so that every client encodes it the same way.");
            }
        }
    }
}
