"""CelebA 64x64 with the settings of Larsen et al. (2016)."""

from configs import default


def get_config():
  config = default.get_config()
  # TFDS 'celeb_a'; or the same images from disk, without TFDS:
  #   --config.data.name=folder --config.data.path=.../img_align_celeba
  #   --config.data.attributes_file=.../list_attr_celeba.txt
  #   --config.data.partition_file=.../list_eval_partition.txt
  config.data.name = 'celeb_a'
  config.data.crop = 'celeba_148'  # 148x148 at rows 40:188, cols 15:163
  return config
