namespace Loop.Tests.Hostile;

/// <summary>docs/reliability.md lists the catalogue as it is: a case added or changed without the document fails here.</summary>
public sealed class ReliabilityDocTests
{
    [Test]
    public void ReliabilityDoc_CatalogueTable_IsTheCatalogue()
    {
        string? doc = FindDoc();
        Assert.That(doc, Is.Not.Null, "docs/reliability.md not found above the test directory");
        string text = File.ReadAllText(doc!).ReplaceLineEndings("\n");
        string table = HostileCatalogue.MarkdownTable();
        Assert.That(text.Contains(table, StringComparison.Ordinal), Is.True, $"the catalogue table in docs/reliability.md is out of date; it should read:\n{table}");
    }

    private static string? FindDoc()
    {
        for (DirectoryInfo? dir = new(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "docs", "reliability.md");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
