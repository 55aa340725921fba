using System.IO.Compression;
using System.Text;
using FedEdge.Data;

namespace FedEdge.Core.Tests.Data;

public sealed class NbaiotReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-nbaiot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReadDirectory_SharedData_GivesFourDevicesWithProvenanceCounts()
    {
        IReadOnlyList<DataPartition> devices = NbaiotFixture.Devices;
        Assert.Equal(["Danmini_Doorbell", "Ecobee_Thermostat", "Ennio_Doorbell", "Provision_PT_737E_Security_Camera"], devices.Select(d => d.ClientId));
        int[] benign = devices.Select(d => d.Data.IndicesWithLabel(0).Count).ToArray();
        int[] attack = devices.Select(d => d.Data.IndicesWithLabel(1).Count).ToArray();
        Assert.Equal([2218, 4000, 0, 0], benign);
        Assert.Equal([181, 217, 4000, 4000], attack);
        Assert.All(devices, d => Assert.Equal(115, d.Data.FeatureCount));
        Assert.Equal("MI_dir_L5_weight", devices[0].Data.FeatureNames[0]);
        Assert.Contains("mirai_udp", devices[1].Data.ClassNames!);
    }

    [Fact]
    public void ReadFile_SharedData_KeepsLargeTimestampsAndVariancesFinite()
    {
        Dataset data = NbaiotFixture.Devices[1].Data;
        int meanColumn = data.FeatureNames.ToList().IndexOf("HH_jit_L5_mean");
        float max = 0;
        for (int r = 0; r < data.Count; r++)
        {
            max = Math.Max(max, data.Row(r)[meanColumn]);
            Assert.True(float.IsFinite(data.Row(r)[meanColumn]));
        }

        Assert.InRange(max, 1.4e9f, 1.6e9f);
    }

    [Fact]
    public void ReadFile_PlainCsvNamedGz_IsATypedErrorNotSilentlyRead()
    {
        string path = Write("plain.csv", Header(), Row("1"));
        File.Move(path, path + ".gz");
        path += ".gz";
        DataFormatException ex = Assert.Throws<DataFormatException>(() => NbaiotReader.ReadFile(path));
        Assert.Equal(path, ex.File);
        Assert.Contains("not gzip", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_WrongFieldCount_RejectsWithFileAndLine()
    {
        string path = Write("bad.csv", Header(), Row("1"), string.Join(',', Enumerable.Repeat("1", 50)));
        DataFormatException ex = Assert.Throws<DataFormatException>(() => NbaiotReader.ReadFile(path));
        Assert.Equal(3, ex.Line);
        Assert.Equal(path, ex.File);
        Assert.Contains("fields", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc", "not a number")]
    [InlineData("NaN", "NaN")]
    [InlineData("1e39", "float32 range")]
    [InlineData("-Infinity", "infinite")]
    public void ReadFile_BadValueUnderSkip_SkipsAndReportsRow(string value, string reasonPart)
    {
        string path = Write("skip.csv.gz", Header(), Row("0"), Row("1", value), Row("1"));
        TabularReadResult result = NbaiotReader.ReadFile(path, new NbaiotReadOptions { BadRows = BadRowPolicy.Skip });
        Assert.Equal(2, result.Data.Count);
        BadRow bad = Assert.Single(result.SkippedRows);
        Assert.Equal(3, bad.Line);
        Assert.Contains(reasonPart, bad.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_HugeValueUnderClamp_ClampsAndCounts()
    {
        string path = Write("clamp.csv", Header(), Row("1", "-5e40"));
        TabularReadResult result = NbaiotReader.ReadFile(path, new NbaiotReadOptions { OutOfRange = OutOfRangePolicy.Clamp });
        Assert.Equal(1, result.ClampedValues);
        Assert.Equal(-float.MaxValue, result.Data.Row(0)[3]);
    }

    [Fact]
    public void ReadFile_WrongHeader_RejectsAtLineOne()
    {
        string path = Write("hdr.csv", "a,b,c", "1,2,3");
        DataFormatException ex = Assert.Throws<DataFormatException>(() => NbaiotReader.ReadFile(path));
        Assert.Equal(1, ex.Line);
    }

    [Fact]
    public void ReadFile_SelectedFeatures_KeepsOnlyThoseInOrder()
    {
        string path = Write("sel.csv", Header(), Row("1", "7"));
        TabularReadResult result = NbaiotReader.ReadFile(path, new NbaiotReadOptions { Features = ["f3", "f0"] });
        Assert.Equal(["f3", "f0"], result.Data.FeatureNames);
        Assert.Equal([7f, 0f], result.Data.Row(0).ToArray());
    }

    private static string Header() => string.Join(',', Enumerable.Range(0, 115).Select(i => "f" + i)) + ",label,attack";

    private static string Row(string label, string fourth = "0.5")
    {
        var values = Enumerable.Range(0, 115).Select(i => i == 3 ? fourth : i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return string.Join(',', values) + "," + label + "," + (label == "0" ? "benign" : "gafgyt_scan");
    }

    private string Write(string name, params string[] lines)
    {
        string path = Path.Combine(_dir, name);
        byte[] text = Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");
        if (name.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var file = File.Create(path);
            using var gz = new GZipStream(file, CompressionLevel.Fastest);
            gz.Write(text);
        }
        else
        {
            File.WriteAllBytes(path, text);
        }

        return path;
    }
}
