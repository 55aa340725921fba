using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>The data sets the CLI trains on (<c>--dataset</c>).</summary>
internal enum DataSetKind
{
    /// <summary>N-BaIoT: 115 features, <c>label</c>, <c>attack</c>; one CSV per device.</summary>
    Nbaiot,

    /// <summary>TON_IoT telemetry: one CSV per device type (different sensor columns), federated over a union schema.</summary>
    TonIot,

    /// <summary>IoT-23 Zeek <c>conn.log.labeled</c> flows: one TSV per capture (one client per capture).</summary>
    Iot23,
}

/// <summary>
/// Recognises N-BaIoT, TON_IoT and IoT-23 files from their header (or takes <c>--dataset</c>) and reads them under the
/// leakage rules of each data set's PROVENANCE.md: TON_IoT's <c>date</c> (and the raw <c>time</c> text) are never
/// features and <c>sphone_signal</c> is a boolean; IoT-23's identifiers (<c>ts</c>, <c>uid</c>, addresses, ports) are
/// dropped. Every file of a data set is encoded into one fixed schema, so every device produces the same columns
/// without looking at any other device's rows.
/// </summary>
internal static class DataSets
{
    /// <summary>The values <c>--dataset</c> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["nbaiot", "toniot", "iot23"];

    /// <summary>TON_IoT's seven device types and their sensor columns (PROVENANCE "Columns").</summary>
    public static IReadOnlyList<(string Type, string[] Columns)> TonIotTypes { get; } =
    [
        ("Fridge", ["fridge_temperature", "temp_condition"]),
        ("Garage_Door", ["door_state", "sphone_signal"]),
        ("GPS_Tracker", ["latitude", "longitude"]),
        ("Modbus", ["FC1_Read_Input_Register", "FC2_Read_Discrete_Value", "FC3_Read_Holding_Register", "FC4_Read_Coil"]),
        ("Motion_Light", ["motion_status", "light_status"]),
        ("Thermostat", ["current_temperature", "thermostat_status"]),
        ("Weather", ["temperature", "pressure", "humidity"]),
    ];

    /// <summary>The TON_IoT union schema: every type's encoded sensor features, one <c>.missing</c> indicator per sensor column, one <c>device_type=</c> indicator per type.</summary>
    public static IReadOnlyList<string> TonIotUnionFeatures { get; } = BuildTonIotUnion();

    /// <summary>Parses a <c>--dataset</c> value (null when absent).</summary>
    /// <exception cref="ArgumentException">The name is unknown.</exception>
    public static DataSetKind? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "nbaiot" or "n-baiot" => DataSetKind.Nbaiot,
        "toniot" or "ton_iot" => DataSetKind.TonIot,
        "iot23" or "iot-23" => DataSetKind.Iot23,
        _ => throw new ArgumentException($"--dataset '{name}' is unknown; use {string.Join(", ", Names)}."),
    };

    /// <summary>The <c>--dataset</c> option shared by simulate, worker and coordinator.</summary>
    public static System.CommandLine.Option<string?> CreateOption()
    {
        System.CommandLine.Option<string?> option = new("--dataset") { Description = "The data set: nbaiot, toniot or iot23. Default: recognised from the files' headers.", HelpName = "NAME" };
        option.AcceptOnlyFromAmong([.. Names]);
        return option;
    }

    /// <summary>Resolves the data set of a folder or file for the CLI: null on success, else a one-line problem.</summary>
    public static string? Resolve(string path, string? forced, out DataSetKind kind)
    {
        kind = DataSetKind.Nbaiot;
        try
        {
            DataSetKind? f = Parse(forced);
            kind = Directory.Exists(path) ? DetectDirectory(path, f) : ReadKind(path, f);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return ex.Message;
        }
    }

    /// <summary>The shipped MUD folder of a data set's devices under <c>samples/</c>.</summary>
    public static string MudFolder(DataSetKind kind) => kind == DataSetKind.Nbaiot ? "mud" : "mud-" + Name(kind);

    private static DataSetKind ReadKind(string file, DataSetKind? forced)
    {
        DataSetKind actual = Detect(file);
        return forced is DataSetKind f && f != actual ? throw new DataFormatException(file, 1, $"--dataset {Name(f)} was given but this file's header is {Name(actual)}") : actual;
    }

    /// <summary>The CLI name of a kind.</summary>
    public static string Name(DataSetKind kind) => Names[(int)kind];

    /// <summary>The data set a file's header belongs to.</summary>
    /// <exception cref="DataFormatException">The header is none of the three layouts.</exception>
    public static DataSetKind Detect(string path)
    {
        string header = ReadHeader(path);

        string[] comma = header.Split(',');
        if (comma.Length == NbaiotReader.FeatureCount + 2 && comma[0] == "MI_dir_L5_weight" && comma[^2] == "label" && comma[^1] == "attack")
        {
            return DataSetKind.Nbaiot;
        }

        if (comma.Length >= 5 && comma[0].Trim() == "date" && comma[1].Trim() == "time" && comma[^2].Trim() == "label" && comma[^1].Trim() == "type")
        {
            return DataSetKind.TonIot;
        }

        string[] tab = header.Split('\t');
        if (tab.Length >= 20 && tab[0] == "ts" && tab[1] == "uid" && tab.Contains("conn_state"))
        {
            return DataSetKind.Iot23;
        }

        string start = header.Length > 60 ? header[..60] + "..." : header;
        throw new DataFormatException(path, 1, $"the header is not N-BaIoT (115 features, label, attack), TON_IoT (date, time, sensors, label, type) or IoT-23 (Zeek conn.log: ts, uid, ...); it starts '{start}'");
    }

    private static string ReadHeader(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> magic = stackalloc byte[2];
        int read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        using Stream stream = read == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream, new System.Text.UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        string? line;
        try
        {
            line = reader.ReadLine();
        }
        catch (InvalidDataException ex)
        {
            throw new DataFormatException(path, 1, "the gzip stream is corrupt: " + ex.Message);
        }

        return (line ?? throw new DataFormatException(path, 1, "the file is empty; expected a header line")).TrimEnd('\r');
    }

    /// <summary>The data files of a folder (<c>.csv</c>, <c>.csv.gz</c>, <c>.tsv</c>, <c>.tsv.gz</c>), in ordinal name order.</summary>
    /// <exception cref="DataFormatException">The folder has none.</exception>
    public static IReadOnlyList<string> Files(string directory)
    {
        string[] suffixes = [".csv", ".csv.gz", ".tsv", ".tsv.gz"];
        var files = Directory.GetFiles(directory)
            .Where(f => suffixes.Any(s => f.EndsWith(s, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();
        return files.Count > 0 ? files : throw new DataFormatException(directory, 0, "no .csv, .csv.gz, .tsv or .tsv.gz files in the folder");
    }

    /// <summary>The data set of a folder: <paramref name="forced"/>, checked against every file's header, or the one all headers agree on.</summary>
    /// <exception cref="DataFormatException">A file is not of the forced data set, or the files mix data sets.</exception>
    public static DataSetKind DetectDirectory(string directory, DataSetKind? forced)
    {
        DataSetKind? seen = forced;
        foreach (string file in Files(directory))
        {
            DataSetKind kind = Detect(file);
            if (seen is DataSetKind s && s != kind)
            {
                throw new DataFormatException(file, 1, forced is null
                    ? $"the folder mixes data sets: this file is {Name(kind)}, an earlier one {Name(s)}"
                    : $"--dataset {Name(s)} was given but this file's header is {Name(kind)}");
            }

            seen = kind;
        }

        return seen!.Value;
    }

    /// <summary>Reads one device's file as <paramref name="kind"/> into the data set's fixed schema.</summary>
    /// <exception cref="DataFormatException">The file is not of that data set or a row is bad.</exception>
    public static Dataset ReadFile(string path, DataSetKind kind)
    {
        DataSetKind actual = Detect(path);
        if (actual != kind)
        {
            throw new DataFormatException(path, 1, $"--dataset {Name(kind)} was given but this file's header is {Name(actual)}");
        }

        return kind switch
        {
            DataSetKind.Nbaiot => NbaiotReader.ReadFile(path).Data,
            DataSetKind.Iot23 => TabularReader.ReadFile(path, TabularReadOptions.Iot23()).Data,
            _ => ToTonIotUnion(path, TabularReader.ReadFile(path, TabularReadOptions.TonIot()).Data),
        };
    }

    /// <summary>Reads one file, detecting its data set unless <paramref name="forced"/> names it.</summary>
    public static (DataSetKind Kind, Dataset Data) ReadFile(string path, DataSetKind? forced)
    {
        DataSetKind kind = forced ?? Detect(path);
        return (kind, ReadFile(path, kind));
    }

    /// <summary>One partition per file (device or capture), named after the file, all in the data set's schema.</summary>
    public static (DataSetKind Kind, IReadOnlyList<DataPartition> Partitions) ReadDirectory(string directory, DataSetKind? forced)
    {
        DataSetKind kind = DetectDirectory(directory, forced);
        return (kind, Files(directory).Select(f => new DataPartition(NbaiotReader.DeviceName(f), ReadFile(f, kind))).ToList());
    }

    /// <summary>The number of features every file of <paramref name="kind"/> is encoded into.</summary>
    public static int FeatureCount(DataSetKind kind) => kind switch
    {
        DataSetKind.Nbaiot => NbaiotReader.FeatureCount,
        DataSetKind.TonIot => TonIotUnionFeatures.Count,
        _ => Iot23FeatureCount.Value,
    };

    private static readonly Lazy<int> Iot23FeatureCount = new(() =>
    {
        TabularReadOptions o = TabularReadOptions.Iot23();
        return o.Features!.Sum(c => c.Kind == ColumnKind.Categorical ? c.Categories!.Count + (c.AllowOther ? 1 : 0) : 2);
    });

    /// <summary>The type of a TON_IoT file: the one whose sensor columns its features came from.</summary>
    private static string TonIotType(string path, Dataset data)
    {
        var raw = data.FeatureNames.Select(n => n.Split('=')[0]).Distinct(StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        foreach ((string type, string[] columns) in TonIotTypes)
        {
            if (raw.SetEquals(columns))
            {
                return type;
            }
        }

        throw new DataFormatException(path, 1, $"the TON_IoT sensor columns ({string.Join(", ", raw)}) are not those of a known device type ({string.Join(", ", TonIotTypes.Select(t => t.Type))})");
    }

    /// <summary>Places a device type's features in the union schema: its own columns filled, the others 0 with their <c>.missing</c> indicator 1, and its <c>device_type=</c> indicator 1.</summary>
    private static Dataset ToTonIotUnion(string path, Dataset local)
    {
        string type = TonIotType(path, local);
        IReadOnlyList<string> union = TonIotUnionFeatures;
        var position = union.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
        int[] target = local.FeatureNames.Select(n => position.TryGetValue(n, out int p) ? p : throw new DataFormatException(path, 1, $"TON_IoT feature '{n}' is not in the union schema")).ToArray();
        var constant = new float[union.Count];
        foreach ((string other, string[] columns) in TonIotTypes)
        {
            if (other != type)
            {
                foreach (string c in columns)
                {
                    constant[position[c + ".missing"]] = 1f;
                }
            }
        }

        constant[position["device_type=" + type]] = 1f;
        var values = new float[local.Count * union.Count];
        for (int r = 0; r < local.Count; r++)
        {
            Span<float> row = values.AsSpan(r * union.Count, union.Count);
            constant.CopyTo(row);
            ReadOnlySpan<float> source = local.Row(r);
            for (int f = 0; f < source.Length; f++)
            {
                row[target[f]] = source[f];
            }
        }

        return new Dataset(values, local.Labels.ToArray(), union.Count, union, local.ClassNames);
    }

    private static List<string> BuildTonIotUnion()
    {
        TabularReadOptions options = TabularReadOptions.TonIot();
        var names = new List<string>();
        foreach ((_, string[] columns) in TonIotTypes)
        {
            foreach (string c in columns)
            {
                names.AddRange(options.KnownColumns.TryGetValue(c, out ColumnSpec? spec) && spec.Kind == ColumnKind.Categorical
                    ? spec.Categories!.Select(v => c + "=" + v)
                    : [c]);
            }
        }

        foreach ((_, string[] columns) in TonIotTypes)
        {
            names.AddRange(columns.Select(c => c + ".missing"));
        }

        names.AddRange(TonIotTypes.Select(t => "device_type=" + t.Type));
        return names;
    }
}

/// <summary>The catalogue's networks sized for a data set's feature count (N-BaIoT keeps the catalogue's 115-input networks).</summary>
internal static class DataSetModels
{
    /// <summary>The network <paramref name="model"/> with the input width of <paramref name="kind"/>.</summary>
    /// <exception cref="ArgumentException">The model cannot read this data set (colearn reads ten N-BaIoT columns; an mlp:SIZES of another width).</exception>
    public static NetworkSpec Spec(string model, DataSetKind kind)
    {
        NetworkSpec catalog = ModelCatalog.GetSpec(model);
        if (kind == DataSetKind.Nbaiot)
        {
            return catalog;
        }

        int n = DataSets.FeatureCount(kind);
        string key = model.Trim().ToLowerInvariant();
        if (key.StartsWith("mlp:", StringComparison.Ordinal))
        {
            return catalog.InputSize == n ? catalog : throw new ArgumentException($"--model {model}: {DataSets.Name(kind)} rows have {n} features, so the first size must be {n}.");
        }

        return key switch
        {
            "mlp" => NetworkSpec.Classifier("mlp", n, 64, 32, 1),
            "mednn" => NetworkSpec.Classifier("mednn", n, 83, 128, 83, 1),
            "autoencoder" or "ae" => NetworkSpec.Autoencoder("autoencoder", n, Scale(n, 0.75), Scale(n, 0.5), Scale(n, 0.33), Scale(n, 0.25)),
            _ => throw new ArgumentException($"--model {model} reads N-BaIoT columns only; use mlp, mednn or autoencoder with {DataSets.Name(kind)}."),
        };
    }

    private static int Scale(int n, double fraction) => Math.Max(2, (int)Math.Ceiling(n * fraction));
}
