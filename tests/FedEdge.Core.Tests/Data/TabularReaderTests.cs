using System.Text;
using FedEdge.Data;

namespace FedEdge.Core.Tests.Data;

public sealed class TabularReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-tab-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReadDirectory_TonIot_GivesSevenDevicesWithProvenanceCounts()
    {
        IReadOnlyList<DataPartition> devices = TabularReader.ReadDirectory(Path.Combine(RepoPaths.Data, "ton_iot"), ".csv.gz", TabularReadOptions.TonIot());
        Assert.Equal(["Fridge", "GPS_Tracker", "Garage_Door", "Modbus", "Motion_Light", "Thermostat", "Weather"], devices.Select(d => d.ClientId));
        Assert.Equal([6000, 6000, 4168, 6000, 6000, 6000, 6000], devices.Select(d => d.Data.Count));
        Assert.Equal([3747, 3690, 3727, 3107, 3721, 3254, 3707], devices.Select(d => d.Data.IndicesWithLabel(1).Count));
        Assert.All(devices, d => Assert.DoesNotContain("date", d.Data.FeatureNames));
        Assert.All(devices, d => Assert.DoesNotContain("time", d.Data.FeatureNames));
        DataPartition fridge = devices[0];
        Assert.Equal(["fridge_temperature", "temp_condition=low", "temp_condition=high"], fridge.Data.FeatureNames);
        Assert.Contains("ransomware", fridge.Data.ClassNames!);
        DataPartition garage = devices[2];
        Assert.Equal(["door_state=closed", "door_state=open", "sphone_signal"], garage.Data.FeatureNames);
    }

    [Fact]
    public void ReadFile_TonIotGarageDoor_SphoneSignalSpellingDoesNotLeakClass()
    {
        TabularReadResult r = TabularReader.ReadFile(Path.Combine(RepoPaths.Data, "ton_iot", "Garage_Door.csv.gz"), TabularReadOptions.TonIot());
        Dataset d = r.Data;
        for (int i = 0; i < d.Count; i++)
        {
            ReadOnlySpan<float> row = d.Row(i);

            // PROVENANCE Q7: sphone_signal mirrors door_state on every row, whatever its spelling.
            Assert.Equal(row[1], row[2]);
        }
    }

    [Fact]
    public void ReadFile_TonIotWithTimeOfDay_ParsesPaddedTimes()
    {
        TabularReadResult r = TabularReader.ReadFile(Path.Combine(RepoPaths.Data, "ton_iot", "Weather.csv.gz"), TabularReadOptions.TonIot(includeTimeOfDay: true));
        int time = r.Data.FeatureNames.ToList().IndexOf("time");
        Assert.True(time >= 0);
        Assert.All(Enumerable.Range(0, r.Data.Count), i => Assert.InRange(r.Data.Row(i)[time], 0f, 86399f));
        Assert.Empty(r.SkippedRows);
    }

    [Fact]
    public void ReadDirectory_Iot23_ReadsBothLabelLayouts()
    {
        IReadOnlyList<DataPartition> captures = TabularReader.ReadDirectory(Path.Combine(RepoPaths.Data, "iot23"), ".tsv.gz", TabularReadOptions.Iot23());
        Assert.Equal([339, 1030, 6000, 3319], captures.Select(c => c.Data.Count));
        Assert.Equal([0, 0, 5501, 4], captures.Select(c => c.Data.IndicesWithLabel(1).Count));
        Assert.Contains("PartOfAHorizontalPortScan", captures[2].Data.ClassNames!);
        Assert.Contains("C&C-FileDownload", captures[3].Data.ClassNames!);
        Assert.All(captures, c => Assert.Equal(captures[0].Data.FeatureNames, c.Data.FeatureNames));
    }

    [Fact]
    public void ReadFile_Iot23Dash_IsMissingWithIndicatorNotZero()
    {
        TabularReadResult r = TabularReader.ReadFile(Path.Combine(RepoPaths.Data, "iot23", "CTU-IoT-Malware-Capture-34-1.tsv.gz"), TabularReadOptions.Iot23());
        var names = r.Data.FeatureNames.ToList();
        int duration = names.IndexOf("duration");
        int missing = names.IndexOf("duration.missing");
        int missingRows = Enumerable.Range(0, r.Data.Count).Count(i => r.Data.Row(i)[missing] == 1f);
        Assert.True(missingRows > r.Data.Count / 2, $"{missingRows} rows without duration");
        Assert.All(Enumerable.Range(0, r.Data.Count).Where(i => r.Data.Row(i)[duration] == 0f && r.Data.Row(i)[missing] == 0f), i => Assert.Equal(0f, r.Data.Row(i)[duration]));
    }

    [Fact]
    public void ReadFile_UnknownCategory_RejectsWithLine()
    {
        string path = Write("a.csv", "date,time,temp_condition,fridge_temperature,label,type", "1-Apr-19,10:00:00,low,3,0,normal", "1-Apr-19,10:00:01,tepid,3,0,normal");
        var ex = Assert.Throws<DataFormatException>(() => TabularReader.ReadFile(path, TabularReadOptions.TonIot()));
        Assert.Equal(3, ex.Line);
        Assert.Contains("tepid", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_MissingUnderBadRowPolicySkip_ReportsLine()
    {
        string path = Write("b.csv", "x,y,label", "1,2,0", "-,2,1", "3,4,1", "5,6");
        var options = new TabularReadOptions { LabelColumn = "label", MissingMarkers = ["-"], BadRows = BadRowPolicy.Skip };
        TabularReadResult r = TabularReader.ReadFile(path, options);
        Assert.Equal(2, r.Data.Count);
        Assert.Equal([3L, 5L], r.SkippedRows.Select(s => s.Line));
        Assert.Contains("missing", r.SkippedRows[0].Reason, StringComparison.Ordinal);
        Assert.Contains("fields", r.SkippedRows[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_OrdinalEncoding_GivesCategoryIndex()
    {
        string path = Write("c.csv", "light_status,motion_status,label,type", " on,1,1,xss", " off,0,0,normal");
        TabularReadResult r = TabularReader.ReadFile(path, TabularReadOptions.TonIot(encoding: CategoricalEncoding.Ordinal));
        Assert.Equal(["light_status", "motion_status"], r.Data.FeatureNames);
        Assert.Equal([1f, 1f, 0f, 0f], r.Data.Features.ToArray());
    }

    [Fact]
    public void ReadFile_MissingLabelColumn_RejectsHeader()
    {
        string path = Write("d.csv", "x,y", "1,2");
        var ex = Assert.Throws<DataFormatException>(() => TabularReader.ReadFile(path, new TabularReadOptions { LabelColumn = "label" }));
        Assert.Equal(1, ex.Line);
    }

    [Fact]
    public void Options_CategoricalWithoutCategories_Throws() =>
        Assert.Throws<ArgumentException>(() => TabularReader.ReadFile(Write("e.csv", "x,label", "1,0"), new TabularReadOptions
        {
            LabelColumn = "label",
            Features = [new ColumnSpec("x", ColumnKind.Categorical)],
        }));

    private string Write(string name, params string[] lines)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, string.Join('\n', lines) + "\n", new UTF8Encoding(false));
        return path;
    }
}
